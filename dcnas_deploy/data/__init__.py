"""Data: procedural scenes, real-data loaders, degradations, protocol metrics, classical baselines.

Main entry points (import from the submodules; this package imports nothing heavy itself):

- ``registry.open_dataset(spec, split)`` -> Dataset of ``sample.Sample``; specs: synthetic, middlebury:PATH,
  lu:PATH, nyu:PATH, rgbdd:PATH, folder:PATH
- ``degrade.make_triple(sample, scale, noise_level=0)`` -> ``sample.Triple`` (lr, guide, hr)
- ``patches.random_patch(sample, patch, scale, rng)`` -> one augmented training ``sample.Triple``
- ``normalize.norm_stats(mode, lr, hr)`` -> MinMax with apply/invert ('gt' and 'lr' modes)
- ``metrics.compute_metrics(pred, gt, protocol)``; ``evaluation.evaluate(upsampler, dataset, scale)``
- ``holes.fill_holes`` (the hole rule every upsampler shares); ``io.read_depth/read_guide/write_depth``
- ``bands.read_bands/write_bands`` (any band count: PNG, TIFF, .npy), ``bands.check_bands/check_dtype``
"""
