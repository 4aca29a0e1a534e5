"""A documented competing load for latency benchmarks: one thread of float32 matrix products, forever.

Run it on the other core before a benchmark's "load" condition, and stop it (Ctrl-C) afterwards:
    python bench/load.py --cpu 1 &          # 256x256 float32 matmuls on CPU 1, one BLAS thread
    python bench/lut_accuracy.py --condition load
    kill %1
--kind python runs a pure-Python loop instead (no memory traffic; the issue's second load).
Prints the work done per second every 10 s so the load itself is on record.
"""
from __future__ import annotations

import argparse
import os
import time


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cpu", type=int, default=None, help="pin to this CPU (default: the last one)")
    ap.add_argument("--kind", choices=("matmul", "python"), default="matmul")
    ap.add_argument("--size", type=int, default=256, help="matrix size for --kind matmul")
    ap.add_argument("--seconds", type=float, default=float("inf"), help="stop after this long")
    args = ap.parse_args()
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = "1"
    cpu = args.cpu if args.cpu is not None else (os.cpu_count() or 1) - 1
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {cpu})
    import numpy as np

    a = np.random.default_rng(0).random((args.size, args.size), dtype=np.float32)
    start = last = time.perf_counter()
    done = 0
    while time.perf_counter() - start < args.seconds:
        if args.kind == "matmul":
            a = (a @ a) / args.size
        else:
            sum(i * i for i in range(20000))
        done += 1
        now = time.perf_counter()
        if now - last >= 10:
            print(f"load ({args.kind}, cpu {cpu}): {done / (now - last):.1f} iterations/s", flush=True)
            last, done = now, 0


if __name__ == "__main__":
    main()
