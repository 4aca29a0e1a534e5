"""Predictor ranking quality per loss (the paper's Table IX / Fig. 17 at small scale).

1. Train a short supernet (default: the `demo` preset, 300 steps) or reuse --run if it is trained.
2. Score --paths uniformly drawn paths with the final weights on the fixed validation crops; hold out
   --holdout of them (≥ 200 with the defaults).
3. Fit a fresh predictor per loss (hinge, ranknet, l1, l2) on the rest, for --seeds seeds, and report
   Kendall τ and Spearman ρ on the held-out paths (mean ± std over seeds), next to two references:
   the predictor refreshed during supernet training, and "params" (rank by parameter count: bigger =
   better). Writes RUN/predictor_ranks.png (predicted vs true rank, seed 0 of each loss) and a JSON.

Usage: python bench/predictor_ranking.py [--run runs/bench-pred] [--preset demo] [--steps 300]
                                         [--paths 1000] [--holdout 0.25] [--seeds 3] [--epochs N]
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

console = Console()
LOSSES = ("hinge", "ranknet", "l1", "l2")


def main() -> None:
    """Train (or reuse), score, fit per loss and seed, print the table."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", type=Path, default=Path("runs/bench-pred"))
    ap.add_argument("--preset", default="demo")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--paths", type=int, default=1000)
    ap.add_argument("--holdout", type=float, default=0.25)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=None, help="fit epochs (default: the preset's init_epochs)")
    args = ap.parse_args()

    from dcnas_deploy.predictor.evaluate import rank_metrics, rank_scatter
    from dcnas_deploy.predictor.model import Predictor
    from dcnas_deploy.train.predictor_runs import ensure_scored, fit_on_run
    from dcnas_deploy.presets import load_preset
    from dcnas_deploy.train.rundir import RunDir
    from dcnas_deploy.train.supernet import load_supernet, train_supernet

    run = RunDir(args.run)
    if run.has_checkpoint() and run.load_checkpoint()["step"] >= args.steps:
        console.print(f"reusing trained supernet {args.run} (step {run.load_checkpoint()['step']})")
    else:
        preset = load_preset(args.preset).with_overrides({"training.steps": args.steps})
        console.print(f"training supernet {preset.name} for {args.steps} steps → {args.run}")
        train_supernet(preset, args.run, resume=run.has_checkpoint())
    _, preset = load_supernet(args.run)
    rows = ensure_scored(args.run, args.paths, args.holdout)
    test = rows.where(rows.split == "test")
    console.print(f"{len(rows)} scored paths, {len(test)} held out; validation {preset.data.metric} of held-out "
                  f"paths: min {test.score.min():.4f}, median {np.median(test.score):.4f}, max {test.score.max():.4f}")

    results, scatter = {}, {}
    for loss in LOSSES:
        per_seed = []
        for seed in range(args.seeds):
            out = args.run / f"predictor-{loss}.pt" if seed == 0 else args.run / f"bench-{loss}-s{seed}.pt"
            rep = fit_on_run(args.run, loss, paths=args.paths, holdout=args.holdout, epochs=args.epochs, out=out,
                             seed=seed)
            per_seed.append(rep.heldout)
            if seed == 0:
                scatter[loss] = Predictor.load(out).score(test.genomes, test.tau)
            else:
                out.unlink()
        results[loss] = {k: [m[k] for m in per_seed] for k in ("kendall", "spearman")}
        console.print(f"  {loss}: Kendall τ {np.mean(results[loss]['kendall']):.3f}")
    refs = {}
    if run.predictor_path.is_file():
        refs["training-time (" + str(preset.predictor.loss) + ")"] = rank_metrics(
            Predictor.load(run.predictor_path).score(test.genomes, test.tau), test.score)
    refs["params (bigger = better)"] = rank_metrics(test.cost, test.score)

    table = Table(title=f"held-out ranking, {len(test)} paths, supernet {args.run} ({preset.name})")
    for col in ("predictor", "Kendall τ", "Spearman ρ", "seeds"):
        table.add_column(col, justify="left" if col == "predictor" else "right")
    for loss, r in results.items():
        table.add_row(loss, f"{np.mean(r['kendall']):.3f} ± {np.std(r['kendall']):.3f}",
                      f"{np.mean(r['spearman']):.3f} ± {np.std(r['spearman']):.3f}", str(args.seeds))
    for name, m in refs.items():
        table.add_row(name, f"{m['kendall']:.3f}", f"{m['spearman']:.3f}", "-")
    console.print(table)
    png = rank_scatter(args.run / "predictor_ranks.png", scatter, test.score,
                       title=f"{len(test)} held-out paths ({preset.name}, seed 0)")
    (args.run / "predictor_ranking.json").write_text(json.dumps(
        {"args": {k: str(v) for k, v in vars(args).items()}, "heldout": len(test), "losses": results,
         "references": refs}, indent=2))
    console.print(f"scatter: {png}; numbers: {args.run / 'predictor_ranking.json'}")


if __name__ == "__main__":
    main()
