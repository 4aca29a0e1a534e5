"""What the searched architectures look like per scale, and whether a LiteRT latency budget steers away from 7×7.

1. Traits per scale: plain EA (--seeds seeds) on each shipped supernet (supernet-x4, supernet-x8; fitness = their
   validation RMSE with inherited weights) under its preset's budget (params ≤ 0.6M), next to --random paths
   drawn uniformly under the same budget (what the budget allows, before any fitness): depthwise kernel sizes of
   the live mobile blocks by stage (level 0 = full resolution), fusion ops by depth, and the live parameters of
   the guide encoder, target encoder and decoder.
2. LiteRT steering: the same EA on supernet-x8 under a latency budget on the `cpu-tflite` LUT (XNNPACK's 7×7
   depthwise cliff) and on the `cpu` LUT (ONNX Runtime), each at its median over random paths; share of 7×7 among
   the winners' live mobile blocks. The committed LUTs cost the search (measured on the host their files name);
   nothing is timed here, so no closed loop runs.
--reuse NAME=CSV takes NAME's winners from the plain-EA rows of a bench/search_ablations.py CSV made on it
instead of searching again. Searches run on one thread. Writes OUT/arch_traits.md and prints it.

Usage: python bench/arch_traits.py [--seeds 3] [--random 2000] [--reuse supernet-x8=runs/search-ablations/search_ablations.csv]
                                   [--out runs/arch-traits]
"""
from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from dcnas_deploy.space import Arch, SearchSpace
from dcnas_deploy.space.genes import FUSIONS, LEVELS

BRANCH_NAMES = {"guide_encoder": "guide", "target_encoder": "target", "decoder": "decoder"}


def traits(arch: Arch, space: SearchSpace) -> Dict[str, Any]:
    """Kernel sizes per level, fusion op per level ('dead' where the decoder stage does not run), params per branch."""
    kernels: Dict[int, List[int]] = {lv: [] for lv in range(LEVELS)}
    params = Counter()
    for lo in space.live_ops(arch):
        branch = lo.role.split(".")[0]
        if branch in BRANCH_NAMES:
            params[BRANCH_NAMES[branch]] += lo.op.params
        if lo.op.kind == "mbconv":
            kernels[int(lo.role.split(".")[1][len("stage"):])].append(lo.op.k)
    lv = space.liveness(arch.array())
    fusion = [FUSIONS[int(lv.fusion[0, level])] if lv.decoder[0, level] else "dead" for level in range(LEVELS)]
    return {"kernels": kernels, "fusion": fusion, "params": dict(params)}


def summarise(archs: Sequence[Arch], space: SearchSpace) -> Dict[str, Any]:
    """Kernel shares per level, fusion counts per level and median branch params over a set of architectures."""
    ts = [traits(a, space) for a in archs]
    kernels = {lv: Counter(k for t in ts for k in t["kernels"][lv]) for lv in range(LEVELS)}
    fusion = {lv: Counter(t["fusion"][lv] for t in ts) for lv in range(LEVELS)}
    params = {b: float(np.median([t["params"].get(b, 0) for t in ts])) for b in BRANCH_NAMES.values()}
    ratio = float(np.median([t["params"].get("guide", 0) / max(1, t["params"].get("target", 0)) for t in ts]))
    return {"n": len(ts), "kernels": kernels, "fusion": fusion, "params": params, "guide_target": ratio}


def _kernel_cell(c: Counter) -> str:
    n = sum(c.values())
    if not n:
        return "none live"
    return "/".join(f"{100 * c.get(k, 0) / n:.0f}" for k in (3, 5, 7)) + f" ({n})"


def _fusion_cell(c: Counter, n: int) -> str:
    return ", ".join(f"{op} {100 * m / n:.0f} %" for op, m in c.most_common())


def _search(supernet: str, seeds: int, out: Path, latency: str = "", device: str = "",
            lut: Optional[Path] = None) -> List[Arch]:
    """Plain-EA winners (no predictor, no closed loop) of `seeds` seeds, under the preset's or a latency budget."""
    from dcnas_deploy import api

    won = []
    for seed in range(seeds):
        req = api.SearchRequest(supernet=supernet, out=out / f"{supernet}-{device or 'size'}-s{seed}.yaml",
                                latency=[latency] if latency else [], devices=[device] if device else [],
                                luts={device: lut} if lut else None, strategy="evolution", seed=seed, verify=False)
        won.append(api.search(req).arch)
    return won


def reused_winners(csv_path: Path) -> List[Arch]:
    """The winners of the plain-EA Fig. 18 runs in a bench/search_ablations.py CSV."""
    import csv

    with open(csv_path, newline="") as f:
        return [Arch.from_hex(r["genome"]) for r in csv.DictReader(f)
                if r["study"] == "fig18" and r["variant"] == "evolution"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--random", type=int, default=2000, help="random paths under each budget (the reference)")
    ap.add_argument("--supernets", nargs="+", default=["supernet-x4", "supernet-x8"])
    ap.add_argument("--steer-supernet", default="supernet-x8")
    ap.add_argument("--steer-devices", nargs="+", default=["cpu", "cpu-tflite"])
    ap.add_argument("--reuse", nargs="*", default=[], metavar="NAME=CSV",
                    help="take NAME's winners from a search_ablations.csv's plain-EA rows")
    ap.add_argument("--out", type=Path, default=Path("runs/arch-traits"))
    args = ap.parse_args()
    reuse = dict(item.split("=", 1) for item in args.reuse)

    import torch

    torch.set_num_threads(1)

    from dcnas_deploy.fileio import atomic_write_text
    from dcnas_deploy.lut.table import find_lut, safe_name
    from dcnas_deploy.pretrained import resolve_supernet
    from dcnas_deploy.runtimes.devices import load_device
    from dcnas_deploy.search.constraints import Feasibility, build_constraints, size_constraints
    from dcnas_deploy.search.inputs import load_supernet_inputs

    lines = [f"Plain EA, {args.seeds} seeds per row (winners), vs {args.random} random paths under the same budget.", "",
             "| supernet | paths | k3/k5/k7 % (live blocks), level 0 | level 1 | level 2 | level 3 | "
             "median params guide / target / decoder | guide ÷ target |", "|---|---|---|---|---|---|---|---|"]
    fusion_lines = ["", "| supernet | paths | fusion, level 0 (full resolution) | level 1 | level 2 | level 3 (deepest) |",
                    "|---|---|---|---|---|---|"]
    for name in args.supernets:
        inputs = load_supernet_inputs(resolve_supernet(name))
        budgets = dict(inputs.preset.search.constraints)
        cons = size_constraints(inputs.space, budgets)
        rand = [Arch(g) for g in Feasibility(inputs.space, cons).sample(args.random, np.random.default_rng(0))]
        won = reused_winners(Path(reuse[name])) if name in reuse else _search(name, args.seeds, args.out)
        for label, archs in ((f"random, {budgets}", rand), ("EA winners" + (f" ({reuse[name]})" if name in reuse else ""),
                                                             won)):
            s = summarise(archs, inputs.space)
            p = s["params"]
            lines.append(f"| {name} | {label} ({s['n']}) | " + " | ".join(_kernel_cell(s["kernels"][lv])
                                                                        for lv in range(LEVELS))
                         + f" | {p['guide']:,.0f} / {p['target']:,.0f} / {p['decoder']:,.0f} | {s['guide_target']:.2f} |")
            fusion_lines.append(f"| {name} | {label} ({s['n']}) | " + " | ".join(
                _fusion_cell(s["fusion"][lv], s["n"]) for lv in range(LEVELS)) + " |")
        print(f"{name} done", flush=True)

    steer = ["", f"Latency budgets on {args.steer_supernet} (median LUT latency of 20000 random paths; LUT costs only, "
                 "no closed loop):", "",
             "| device (LUT) | k7/k5 latency (median, mobile blocks) | budget | random paths under it: k3/k5/k7 % | "
             "EA winners: k3/k5/k7 % | winners' val RMSE |", "|---|---|---|---|---|---|"]
    inputs = load_supernet_inputs(resolve_supernet(args.steer_supernet))
    space = inputs.space
    for device in args.steer_devices:
        lut = find_lut(safe_name(load_device(device).name), space)
        lat = lut.batch_latency(space.sample_genomes(20000, seed=0), space)
        budget = float(np.median(lat))
        cons = build_constraints(space, [f"{budget}ms"], [device], luts={device: lut.file})
        rand = [Arch(g) for g in Feasibility(space, cons).sample(args.random, np.random.default_rng(0))]
        won = _search(args.steer_supernet, args.seeds, args.out, f"{budget}ms", device, lut.file)
        fit = inputs.fitness(np.stack([a.array() for a in won]))
        kr = summarise(rand, space)["kernels"]
        kw = summarise(won, space)["kernels"]
        steer.append(f"| {device} ({lut.file.name}) | {lut.kernel_ratios().get('k7/k5', float('nan')):.2f} | {budget:.1f} ms | "
                     f"{_kernel_cell(sum(kr.values(), Counter()))} | {_kernel_cell(sum(kw.values(), Counter()))} | "
                     + ", ".join(f"{x:.5f}" for x in fit) + " |")
        print(f"{device} done", flush=True)
    text = "\n".join(lines + fusion_lines + steer) + "\n"
    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out / "arch_traits.md", text)
    print(text)


if __name__ == "__main__":
    main()
