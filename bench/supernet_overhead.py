"""Cost of weight sharing: a training step (and a no-grad forward) of the supernet on one path vs the
materialised SubNet of that path, same batch, same Adam; ratio = supernet / subnet. CPU, and CUDA
when available.

The supernet slices its largest weights, builds 5×5/3×3 kernels through the transform matrices and
keeps one Adam over all parameters (only the path's get gradients); the SubNet is static.
Each of the four timings is measured in `--rounds` alternating rounds (protocol.measure each time) and
the lowest round median is reported, so that load from other processes on a shared machine, which
only ever adds time, distorts the ratio less.

Usage: python bench/supernet_overhead.py [--width 8] [--scale 8] [--patch 64] [--batch 8] [--paths 5]
                                         [--devices cpu,cuda] [--threads 1] [--timed-runs 10] [--rounds 3]
                                         [--json out.json]
"""
from __future__ import annotations

import argparse
import json
import math
import platform
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from dcnas_deploy.model import Supernet
from dcnas_deploy.runtimes.protocol import Protocol, measure
from dcnas_deploy.space import Arch, SearchSpace
from dcnas_deploy.train.evaluate import masked_l1

console = Console()


def _paths(space: SearchSpace, n: int, seed: int) -> list:
    """n random paths whose decoder runs (an all-'none' path has nothing to train)."""
    out, rng = [], np.random.default_rng(seed)
    while len(out) < n:
        g = space.sample_genomes(1, rng)[0]
        if space.liveness(g[None]).decoder[0].any():
            out.append(Arch(g))
    return out


def _step_fn(model, opt, call, batch):
    lr, guide, hr, mask = batch

    def step():
        loss = masked_l1(call(model, lr, guide), hr, mask)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return step


def _forward_fn(model, call, batch):
    lr, guide = batch[0], batch[1]

    def fwd():
        with torch.inference_mode():
            call(model, lr, guide)
    return fwd


def bench_device(device: torch.device, args, protocol: Protocol) -> list:
    """Rows (path, supernet/subnet step and forward medians) on one device."""
    space = SearchSpace(width=args.width, scale=args.scale, hr_size=(args.patch, args.patch))
    torch.manual_seed(0)
    net = Supernet(space).to(device)
    opt_super = torch.optim.Adam(net.parameters(), lr=1e-4, betas=(0.9, 0.99))
    h, s = args.patch, args.scale
    g = torch.Generator().manual_seed(0)
    batch = tuple(t.to(device) for t in (torch.rand(args.batch, 1, h // s, h // s, generator=g),
                                         torch.rand(args.batch, 3, h, h, generator=g),
                                         torch.rand(args.batch, 1, h, h, generator=g),
                                         torch.ones(args.batch, 1, h, h, dtype=torch.bool)))
    sync = torch.cuda.synchronize if device.type == "cuda" else None
    rows = []
    for arch in _paths(space, args.paths, args.seed):
        sub = net.materialize(arch).to(device)
        opt_sub = torch.optim.Adam(sub.parameters(), lr=1e-4, betas=(0.9, 0.99))
        call_super = lambda m, lr, guide, a=arch: m(lr, guide, arch=a)
        call_sub = lambda m, lr, guide: m(lr, guide)
        fns = {"super_step": _step_fn(net, opt_super, call_super, batch),
               "sub_step": _step_fn(sub, opt_sub, call_sub, batch),
               "super_fwd": _forward_fn(net, call_super, batch), "sub_fwd": _forward_fn(sub, call_sub, batch)}
        medians = {k: [] for k in fns}
        for _ in range(args.rounds):  # alternate A/B so a burst of load elsewhere hits both sides
            for k, fn in fns.items():
                medians[k].append(measure(fn, protocol, sync).median_ms)
        rows.append({"device": str(device), "arch": arch.to_hex(), "params": space.params(arch),
                     **{k: min(v) for k, v in medians.items()}, "round_medians": medians})
    return rows


def main() -> None:
    """Measure and print one table per device plus the geometric-mean ratios."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--width", type=int, default=8)
    ap.add_argument("--scale", type=int, default=8)
    ap.add_argument("--patch", type=int, default=64)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--paths", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--devices", default="cpu,cuda", help="comma list; cuda is skipped when unavailable")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    ap.add_argument("--timed-runs", type=int, default=10, help="timed runs per measurement (after 3 warm-up)")
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds; the lowest round median is kept")
    ap.add_argument("--json", type=Path, default=None, help="also write the rows here")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    protocol = Protocol(warmup_runs=3, warmup_s=0.0, timed_runs=args.timed_runs, timed_s=0.0)
    devices = []
    for d in args.devices.split(","):
        if d == "cuda" and not torch.cuda.is_available():
            console.print("[yellow]cuda: not available here, skipped[/]")
            continue
        devices.append(torch.device(d))
    console.print(f"torch {torch.__version__}, {platform.processor() or platform.machine()}, {args.threads} thread(s); "
                  f"width {args.width}, x{args.scale}, HR {args.patch}², batch {args.batch}; protocol {protocol}")
    all_rows = []
    for device in devices:
        name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
        rows = bench_device(device, args, protocol)
        all_rows += rows
        table = Table(title=f"{name}: ms, lowest of {args.rounds} alternating round medians")
        for col in ("path", "params", "super step", "sub step", "ratio", "super fwd", "sub fwd", "ratio "):
            table.add_column(col, justify="right")
        for r in rows:
            table.add_row(r["arch"][:12] + "…", f"{r['params']:,}", f"{r['super_step']:.2f}", f"{r['sub_step']:.2f}",
                          f"{r['super_step'] / r['sub_step']:.2f}", f"{r['super_fwd']:.2f}", f"{r['sub_fwd']:.2f}",
                          f"{r['super_fwd'] / r['sub_fwd']:.2f}")
        gm = lambda a, b: math.exp(np.mean([math.log(r[a] / r[b]) for r in rows]))
        console.print(table)
        console.print(f"{name}: geometric-mean ratio train step {gm('super_step', 'sub_step'):.2f}×, "
                      f"forward {gm('super_fwd', 'sub_fwd'):.2f}×")
    if args.json:
        args.json.write_text(json.dumps({"args": vars(args) | {"json": str(args.json)}, "rows": all_rows}, indent=2))


if __name__ == "__main__":
    main()
