"""Training: supernet (paper Alg. 1), fixed architectures, run directories, checkpoint/resume, DDP.

Public entry points (import from the submodules):

- ``supernet.train_supernet(preset, out, resume=False, nproc=1)``; ``supernet.load_supernet(run_dir)``
  -> (Supernet, Preset); ``supernet.validation_set(preset, device)`` -> the fixed validation crops
- ``evaluate.evaluate_paths(net, archs, val_batches, metric="l1")`` -> (N,) scores, lower is better
- ``retrain.train_arch(arch, preset, out, init="scratch"|"supernet", supernet=None, resume=False)``
- ``sampling.ConstraintSampler`` (τ by transformation sampling, bounded acceptance-rejection)

Run under torchrun with ``torchrun --nproc_per_node 2 -m dcnas_deploy train-supernet --preset demo --out runs/x``.
"""
