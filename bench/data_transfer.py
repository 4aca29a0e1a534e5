"""Which procedural training data transfers to real depth? An ablation scored on Middlebury (never trained on).

One fixed architecture (every slot `k3e4`, depth 2, `concat_pw`; the hand design of bench/search_quality.py)
is trained from scratch with the preset's `retrain` settings on each training source below, for each seed,
then scored on the 30 Middlebury pairs at the preset's scale twice: with the published bicubic LR and with a
simulated depth-sensor LR (`sensorlr:`: noise growing with depth, quantisation, missing pixels at edges).

  rooms            synthetic (ray-cast procedural rooms; the original default)
  deadleaves       dead-leaves occlusion scenes (colour edges that are not depth edges, smooth leaves)
  mix              rooms and dead-leaves interleaved
  mix+sensor       the mix with simulated sensor LR inputs (the model learns to ignore sensor artefacts)
  mix+third-sensor rooms, dead-leaves and rooms with sensor LR, interleaved (the recipe of the shipped models)

Training jobs run `--jobs` at a time (each on one thread: the presets set threads: 1), as CLI calls, so an
interrupted bench resumes each run from its checkpoint on rerun. Prints the table (mean ± spread over seeds)
and writes OUT/data_transfer.csv (one row per run and LR) and OUT/data_transfer.md.

Usage: python bench/data_transfer.py [--preset cpu-x8] [--steps 600] [--seeds 0,1] [--jobs 2]
                                     [--variants rooms,deadleaves,mix,mix+sensor] [--out runs/data-transfer]
"""
from __future__ import annotations

import argparse
import csv
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Dict, List

import numpy as np

from dcnas_deploy.fileio import atomic_write_text
from dcnas_deploy.datadirs import MIDDLEBURY
from dcnas_deploy.space import Arch

ROOMS = "synthetic:n=256,size=128"
LEAVES = "deadleaves:n=256,size=128"
VARIANTS: Dict[str, str] = {
    "rooms": ROOMS,
    "deadleaves": LEAVES,
    "mix": f"mix:{ROOMS}+{LEAVES}",
    "mix+sensor": f"sensorlr:mix:{ROOMS}+{LEAVES}",
    "rooms+sensor": f"sensorlr:{ROOMS}",
    "mix+third-sensor": f"mix:{ROOMS}+{LEAVES}+sensorlr:{ROOMS},seed=1",
}
HAND = ("k3e4", 2, "concat_pw")


def _train(cli: str, arch: Path, preset: str, spec: str, steps: int, seed: int, run: Path) -> float:
    """Train one run through the CLI (resuming a partial one); returns its wall time in seconds."""
    if (run / "model.pt").is_file():
        return 0.0
    cmd = [cli, "train", "--arch", str(arch), "--preset", preset, "--data", spec, "--steps", str(steps),
           "--seed", str(seed), "--out", str(run), "--no-progress"]
    if (run / "checkpoint.pt").is_file():
        cmd.append("--resume")
    t = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return time.perf_counter() - t


def _score(model: Path | str, scale: int, spec: str) -> Dict[str, float]:
    """Mean metrics of upsampler `model` (a name or a model file) on dataset `spec` at `scale`."""
    from dcnas_deploy.data.evaluation import evaluate
    from dcnas_deploy.data.registry import open_dataset
    from dcnas_deploy.upsamplers import create_upsampler

    ds = open_dataset(spec, split="test")
    return {k: float(v) for k, v in evaluate(create_upsampler(str(model), scale), ds, scale).mean().items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--preset", default="cpu-x8")
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--seeds", default="0,1")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--variants", default="rooms,deadleaves,mix,mix+sensor")
    ap.add_argument("--out", type=Path, default=Path("runs/data-transfer"))
    args = ap.parse_args()
    from dcnas_deploy.presets import load_preset

    preset = load_preset(args.preset)
    scale = preset.space.scale
    variants = [v.strip() for v in args.variants.split(",")]
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        sys.exit(f"unknown variants {unknown}; known: {', '.join(VARIANTS)}")
    seeds = [int(s) for s in args.seeds.split(",")]
    args.out.mkdir(parents=True, exist_ok=True)
    arch = Arch.uniform(*HAND).to_yaml(args.out / "arch.yaml")
    cli = str(Path(sys.executable).with_name("dcnas-deploy"))
    runs = {(v, s): args.out / f"{v}-s{s}" for v in variants for s in seeds}
    t0 = time.perf_counter()
    with ThreadPoolExecutor(args.jobs) as pool:
        walls = dict(zip(runs, pool.map(lambda k: _train(cli, arch, args.preset, VARIANTS[k[0]], args.steps, k[1],
                                                          runs[k]), runs)))
    lr_specs = {"bicubic LR": f"middlebury:{MIDDLEBURY}", "sensor LR": f"sensorlr:middlebury:{MIDDLEBURY}"}
    rows: List[Dict[str, object]] = []
    for lr_name, spec in lr_specs.items():
        for name in ("bicubic", "jbu"):
            rows.append({"variant": name, "seed": "", "lr": lr_name, **_score(name, scale, spec)})
        for (v, s), run in runs.items():
            rows.append({"variant": v, "seed": s, "lr": lr_name, "train_s": round(walls[(v, s)], 1),
                         **_score(run / "model.pt", scale, spec)})
    with open(args.out / "data_transfer.csv", "w", newline="") as f:
        keys = sorted({k for r in rows for k in r}, key=lambda k: (k not in ("variant", "seed", "lr"), k))
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        w.writerows(rows)
    table = _table(rows, variants, list(lr_specs), seeds, args, scale, time.perf_counter() - t0)
    atomic_write_text(args.out / "data_transfer.md", table)
    print(table)


def _table(rows, variants, lrs, seeds, args, scale, seconds) -> str:
    lines = [f"Middlebury ×{scale} (30 pairs, 0–255), fixed arch {HAND}, {args.steps} steps, preset {args.preset}, "
             f"seeds {seeds}; mean (min–max over seeds); {seconds / 60:.1f} min", "",
             "| training data | " + " | ".join(f"RMSE {lr} | MAE {lr}" for lr in lrs) + " |",
             "|---|" + "---:|" * (2 * len(lrs))]
    for v in ["bicubic", "jbu", *variants]:
        cells = []
        for lr in lrs:
            sel = [r for r in rows if r["variant"] == v and r["lr"] == lr]
            for m in ("rmse", "mae"):
                vals = np.array([float(r[m]) for r in sel])
                cells.append(f"{vals.mean():.3f}" + (f" ({vals.min():.3f}–{vals.max():.3f})" if len(vals) > 1 else ""))
        lines.append(f"| {v} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
