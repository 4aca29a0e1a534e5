"""LiteRT with the ops as in PyTorch vs with model.litert_forms, and ONNX Runtime, in one process.

    python bench/litert_forms_ab.py [--rounds 7] [--archs 3] [--out /tmp/litert_ab]

The shipped depth-x8 and random width-8 ×8 archs at 256×256, NCHW I/O, 1 thread, interleaved rounds
(one run of each file per round); prints op and TRANSPOSE counts, max |diff| vs PyTorch, median ms.
"""
from __future__ import annotations

import argparse
import collections
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("LITERT_TORCH_SHOW_PROGRESS", "n")


def main() -> None:
    """Convert, check, time and print."""
    import numpy as np
    import onnxruntime as ort
    import torch
    from ai_edge_litert.interpreter import Interpreter

    from dcnas_deploy.export.deployable import Deployable, deployable_from_checkpoint
    from dcnas_deploy.model.supernet import Supernet
    from dcnas_deploy.runtimes.backends import get_backend
    from dcnas_deploy.space import SearchSpace

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--archs", type=int, default=3)
    ap.add_argument("--out", default="/tmp/litert_ab")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_grad_enabled(False)
    space = SearchSpace(width=8, scale=8, hr_size=(256, 256))
    supernet = Supernet(space).eval()
    models = {"depth-x8": deployable_from_checkpoint(REPO / "dcnas_deploy/pretrained/depth-x8/model.pt")[0]}
    for seed in range(11, 11 + args.archs):
        models[f"arch{seed}"] = Deployable(supernet.materialize(space.sample(seed))).eval()
    runs = {}
    for name, dep in models.items():
        ex = dep.example_inputs((256, 256))
        want = dep(*ex).numpy()
        onnx = out / f"{name}.onnx"
        get_backend("onnxruntime").convert(dep, ex, onnx)
        so = ort.SessionOptions()
        so.intra_op_num_threads = so.inter_op_num_threads = 1
        sess = ort.InferenceSession(str(onnx), so, providers=["CPUExecutionProvider"])
        feeds = {i.name: t.numpy() for i, t in zip(sess.get_inputs(), ex)}
        runs[(name, "ort")] = lambda s=sess, f=feeds: s.run(None, f)
        for forms in (False, True):
            tag = "forms" if forms else "plain"
            path = out / f"{name}_{tag}.tflite"
            get_backend("litert").convert(dep, ex, path, options={"forms": forms})
            it = Interpreter(model_path=str(path), num_threads=1)
            it.allocate_tensors()
            for d, t in zip(it.get_input_details(), ex):
                it.set_tensor(d["index"], t.numpy())
            it.invoke()
            diff = float(np.abs(it.get_tensor(it.get_output_details()[0]["index"]) - want).max())
            ops = collections.Counter(o["op_name"] for o in Interpreter(model_path=str(path))._get_ops_details())
            print(f"{name} litert {tag}: {sum(ops.values())} ops, {ops.get('TRANSPOSE', 0)} TRANSPOSE, "
                  f"max |diff| vs PyTorch {diff:.2g}", flush=True)
            runs[(name, tag)] = it.invoke
    times = collections.defaultdict(list)
    for fn in runs.values():
        fn()
    for _ in range(args.rounds):
        for key, fn in runs.items():
            t0 = time.perf_counter()
            fn()
            times[key].append((time.perf_counter() - t0) * 1e3)
    for name in models:
        m = {tag: statistics.median(times[(name, tag)]) for tag in ("plain", "forms", "ort")}
        print(f"{name:9s} litert plain {m['plain']:8.1f} ms  forms {m['forms']:8.1f} ms  ort {m['ort']:8.1f} ms  "
              f"plain/forms {m['plain'] / m['forms']:5.2f}x  forms/ort {m['forms'] / m['ort']:5.2f}x  "
              f"plain/ort {m['plain'] / m['ort']:5.2f}x", flush=True)


if __name__ == "__main__":
    main()
