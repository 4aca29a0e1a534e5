"""Throughput of the procedural scene generator and the training-patch pipeline (images per second).

Run: python bench/data_scenes.py [--size 256] [--count 100]
Pin to one core for the per-core figure: taskset -c 0 python bench/data_scenes.py
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np


def main() -> None:
    """Render `count` scenes and build training batches; print images/s for each stage."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--count", type=int, default=100)
    args = parser.parse_args()

    from dcnas_deploy.data.degrade import make_triple
    from dcnas_deploy.data.patches import random_patch
    from dcnas_deploy.data.synthetic import SyntheticDataset, render_scene

    render_scene(0, args.size)  # warm imports and caches
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"scene size {args.size}×{args.size}, {args.count} scenes, {cores} core(s) available to this process")

    for sensor in (False, True):
        t0, c0 = time.perf_counter(), time.process_time()
        for i in range(args.count):
            render_scene(i, args.size, sensor=sensor)
        dt, dc = time.perf_counter() - t0, time.process_time() - c0
        print(f"render_scene(sensor={sensor!s:5}): {args.count / dt:7.1f} images/s wall "
              f"({1000 * dt / args.count:.1f} ms each), {args.count / dc:.1f} images per CPU-second")

    ds = SyntheticDataset("train", n=args.count, size=args.size)
    t0 = time.perf_counter()
    for i in range(args.count):
        make_triple(ds[i], 8)
    dt = time.perf_counter() - t0
    print(f"render + make_triple(×8):       {args.count / dt:7.1f} images/s")

    rng = np.random.default_rng(0)
    t0 = time.perf_counter()
    for i in range(args.count):
        random_patch(ds[i], 128, 4, rng)
    dt = time.perf_counter() - t0
    print(f"random_patch(128², ×4):         {args.count / dt:7.1f} patches/s")


if __name__ == "__main__":
    main()
