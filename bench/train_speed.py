"""Training throughput on this CPU: which of channels-last, bf16 autocast, torch.compile and more threads help?

Times optimiser steps of one fixed architecture (the DCNAS-Tiny hand design `k3e4`, depth 2, `concat_pw`) at a
preset's training geometry, each variant in its own fresh model, interleaved round by round (A B C … A B C …)
so that a change in the machine's speed hits every variant alike; prints the median steps/s of each, its
spread over rounds and its ratio to fp32 in the same rounds. Separately it times making the batches alone
(procedural rendering + patching + normalising) against a whole step, which says what overlapping data
generation with the step (worker processes) could at most gain.

Usage: python bench/train_speed.py [--preset cpu-x8] [--threads 1] [--rounds 5] [--steps 20]
                                   [--variants fp32,channels-last,bf16,compile]
"""
from __future__ import annotations

import argparse
import time
from typing import Callable, Dict, List

import numpy as np
import torch

from dcnas_deploy.model.subnet import SubNet
from dcnas_deploy.presets import load_preset
from dcnas_deploy.space import Arch
from dcnas_deploy.train.batches import Batch, TrainStream, open_split
from dcnas_deploy.train.evaluate import masked_l1
from dcnas_deploy.train.loop import make_optimizer

VARIANTS = ("fp32", "channels-last", "bf16", "channels-last+bf16", "compile")


def _stepper(variant: str, space, batches: List[Batch]) -> Callable[[int], None]:
    """A function running n optimiser steps of a fresh model trained the way `variant` says."""
    torch.manual_seed(0)
    net = SubNet(space, Arch.uniform("k3e4", 2, "concat_pw"))
    cl = "channels-last" in variant
    if cl:
        net = net.to(memory_format=torch.channels_last)
    model = torch.compile(net) if variant == "compile" else net
    opt = make_optimizer(net.parameters(), 1e-3, (0.9, 0.99), 1e-8)
    bf16 = "bf16" in variant

    def run(n: int) -> None:
        for i in range(n):
            b = batches[i % len(batches)]
            lr, guide = b.lr, b.guide
            if cl:
                lr, guide = lr.contiguous(memory_format=torch.channels_last), guide.contiguous(memory_format=torch.channels_last)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                out = model(lr, guide)
            loss = masked_l1(out.float(), b.hr, b.mask)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

    run(3)  # warm-up (and compilation)
    return run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="cpu-x8")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--variants", default="fp32,channels-last,bf16,compile")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    preset = load_preset(args.preset)
    d, space = preset.data, preset.make_space()
    stream = TrainStream(open_split(d.spec, d.train_split, "training", d.cache_samples), d.batch_size, d.patch_size,
                         space.scale, d.norm, 0)
    t = time.perf_counter()
    batches = [stream.batch(s) for s in range(args.steps)]
    cold = (time.perf_counter() - t) / args.steps
    t = time.perf_counter()
    for s in range(args.steps):
        stream.batch(s)
    warm = (time.perf_counter() - t) / args.steps
    variants = [v.strip() for v in args.variants.split(",")]
    steppers = {v: _stepper(v, space, batches) for v in variants}
    rates: Dict[str, List[float]] = {v: [] for v in variants}
    for _ in range(args.rounds):
        for v in variants:
            t = time.perf_counter()
            steppers[v](args.steps)
            rates[v].append(args.steps / (time.perf_counter() - t))
    base = np.array(rates[variants[0]])
    print(f"preset {args.preset}: batch {d.batch_size} × {d.patch_size}² HR at ×{space.scale}, "
          f"{args.threads} thread(s), {args.rounds} rounds × {args.steps} steps, torch {torch.__version__}")
    print(f"{'variant':<22}{'steps/s median':>16}{'min–max':>16}{'× ' + variants[0]:>12}")
    for v in variants:
        r = np.array(rates[v])
        print(f"{v:<22}{np.median(r):>16.2f}{f'{r.min():.2f}–{r.max():.2f}':>16}{np.median(r / base):>12.2f}")
    step_s = 1 / np.median(base)
    print(f"making one batch: {cold * 1000:.0f} ms the first time (rendering), {warm * 1000:.0f} ms from the cache; "
          f"one {variants[0]} step {step_s * 1000:.0f} ms: a data worker could save at most "
          f"{warm / (warm + step_s):.0%} of a cached step")


if __name__ == "__main__":
    main()
