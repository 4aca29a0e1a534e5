"""How the supernet starts: does a CPU-length supernet learn anything its search can use?

The first shipped supernets' validation did not move in 800 steps (x8: 0.0684 -> 0.0689 L1): with weights shared by
~45-block random paths, each step trains a different network. This bench trains the same preset's supernet with
uniform path sampling (the predictor is left out: it ranks paths, it does not make them learn) under each start
  zero      every path starts as bicubic (zero head), uniform paths from step 0 (the shipped recipe's start)
  largest   the first --largest-frac of the steps train the largest path (Once-for-All starts from its full
            network; sampling.largest_steps), then uniform paths
  hand      the first --largest-frac of the steps train the hand design (every slot k3e4, depth 2, concat_pw;
            sampling.hand_steps): one fixed mid-size path, as a single network leaves the plateau, then uniform
  transfer  the supernet starts from another one's weights (--init-supernet, default the shipped supernet-x8;
            training.init_supernet): same width and channels, another scale, paths already off the plateau
  smallhead the head starts at --head-scale × PyTorch's default init instead of zero (training.head_init_scale),
            uniform paths from step 0: every path starts within a hair of bicubic, but not on the saddle
and then scores, with inherited weights on the fixed validation crops, bicubic (the all-`none` path) and
--paths random paths under the preset's search budget: median, spread and share better than bicubic. A
supernet whose paths all score like bicubic gives its search nothing to compare.

Usage: python bench/supernet_start.py [--preset cpu-x8] [--steps 300] [--variant zero largest hand transfer smallhead]
                                      [--lr LR] [--seed 0] [--head-scale 0.1] [--init-supernet supernet-x8]
Each variant's run lives in OUT/VARIANT-STEPSsteps-lrLR-sSEED (smallhead: VARIANT is smallhead<scale>) (resumed on a rerun), its scores in scores.yaml there.
Run variants one at a time, or two side by side with --variant X in two shells (results, not timings).
"""
from __future__ import annotations

import argparse
import csv
from pathlib import Path
from typing import Any, Dict

import numpy as np
import yaml

VARIANTS = ("zero", "largest", "hand", "transfer", "smallhead")


def variant_preset(base: Dict[str, Any], variant: str, steps: int, largest_frac: float, seed: int, lr: float,
                   head_scale: float = 0.1, init_supernet: str = "supernet-x8"):
    """The preset cut to `steps` uniform-sampling steps with the variant's start (lr halved once, at 2/3)."""
    from dcnas_deploy.presets import Preset

    d = yaml.safe_load(yaml.safe_dump(base))
    d["name"] = f"{d['name']}-{variant}"
    d["training"].update(steps=steps, checkpoint_every=max(1, steps // 4), lr_halve_every=max(1, steps * 2 // 3),
                         seed=seed, lr=lr)
    d["sampling"].update(strategy="uniform", largest_steps=int(steps * largest_frac) if variant == "largest" else 0)
    d["sampling"]["hand_steps"] = int(steps * largest_frac) if variant == "hand" else 0
    d["training"]["head_init_scale"] = head_scale if variant == "smallhead" else 0.0
    d["training"]["init_supernet"] = init_supernet if variant == "transfer" else ""
    return Preset.from_dict(d, f"bench variant {variant}")


def score_variant(run: Path, paths: int, seed: int) -> Dict[str, Any]:
    """Bicubic and random budget-feasible paths scored with inherited weights on the run's validation crops."""
    from dcnas_deploy.search.constraints import Feasibility, size_constraints, smallest_networks
    from dcnas_deploy.train.evaluate import evaluate_paths
    from dcnas_deploy.train.supernet import load_supernet
    from dcnas_deploy.train.trainer import validation_set

    net, preset = load_supernet(run)
    net.eval()
    val = validation_set(preset)
    bicubic = smallest_networks(include_bicubic=True)[:1]  # every fusion `none`: the LR-up alone
    base = float(evaluate_paths(net, bicubic, val, preset.data.metric)[0])
    cons = size_constraints(net.space, preset.search.constraints)
    genomes = Feasibility(net.space, cons).sample(paths, np.random.default_rng([seed, 7]))
    scores = evaluate_paths(net, genomes, val, preset.data.metric)
    with open(run / "log.csv", newline="") as f:
        curve = [(int(r["step"]), round(float(r["val"]), 6)) for r in csv.DictReader(f) if r.get("val")]
    return {"metric": preset.data.metric, "bicubic": round(base, 6), "paths": len(scores),
            "median": round(float(np.median(scores)), 6), "best": round(float(scores.min()), 6),
            "worst": round(float(scores.max()), 6),
            "spread_pct": round(float((np.percentile(scores, 90) - np.percentile(scores, 10)) / base * 100), 3),
            "better_than_bicubic": round(float((scores < base).mean()), 3),
            "median_vs_bicubic_pct": round(float((np.median(scores) / base - 1) * 100), 3),
            "probe_val_curve": [list(c) for c in curve]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="cpu-x8")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--largest-frac", type=float, default=0.5, help="share of the steps on the start path "
                    "(largest, hand)")
    ap.add_argument("--variant", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    ap.add_argument("--paths", type=int, default=32, help="random budget-feasible paths scored per variant")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--head-scale", type=float, default=0.1, help="the smallhead variant's head_init_scale")
    ap.add_argument("--init-supernet", default="supernet-x8", help="the transfer variant's donor supernet")
    ap.add_argument("--lr", type=float, default=None, help="supernet lr (default: the preset's)")
    ap.add_argument("--out", type=Path, default=Path("runs/supernet-start"))
    args = ap.parse_args()

    from dcnas_deploy.fileio import atomic_write_text
    from dcnas_deploy.presets import load_preset
    from dcnas_deploy.train.supernet import train_supernet

    base = load_preset(args.preset).to_dict()
    rows = []
    for variant in args.variant:
        lr = args.lr or base["training"]["lr"]
        tag = f"{args.head_scale:g}" if variant == "smallhead" else ""
        run = args.out / f"{variant}{tag}-{args.steps}steps-lr{lr:g}-s{args.seed}"
        preset = variant_preset(base, variant, args.steps, args.largest_frac, args.seed, lr, args.head_scale,
                                args.init_supernet)
        res = train_supernet(preset, run, resume=(run / "checkpoint.pt").is_file())
        scores = score_variant(run, args.paths, args.seed)
        scores.update(variant=variant, seed=args.seed, steps=args.steps, lr=lr, minutes=round(res["elapsed_s"] / 60, 2),
                      probe_val_start=round(res["val_start"]["val"], 6), probe_val_end=round(res["val_end"]["val"], 6))
        atomic_write_text(run / "scores.yaml", yaml.safe_dump(scores, sort_keys=False))
        rows.append(scores)
    print(f"\n{args.preset}, {args.steps} steps, uniform paths, seed {args.seed}; {rows[0]['paths']} random paths under "
          f"the search budget scored with inherited weights ({rows[0]['metric']}, lower is better)")
    print("| start | lr | min | probe val start→end | bicubic | paths median | best | p90−p10 | better than bicubic |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['variant']} | {r['lr']:g} | {r['minutes']} | {r['probe_val_start']:.5f}→{r['probe_val_end']:.5f} | "
              f"{r['bicubic']:.5f} | {r['median']:.5f} ({r['median_vs_bicubic_pct']:+.1f} %) | {r['best']:.5f} | "
              f"{r['spread_pct']:.1f} % | {r['better_than_bicubic'] * 100:.0f} % |")


if __name__ == "__main__":
    main()
