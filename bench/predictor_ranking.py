"""Predictor ranking quality per loss (the paper's Table IX / Fig. 17 at small scale).

1. Train a short supernet (default: the `demo` preset, 300 steps) or reuse --run if it is trained.
2. Score --paths uniformly drawn paths with the final weights on the fixed validation crops; hold out
   --holdout of them (≥ 200 with the defaults).
3. Fit a fresh predictor per loss (hinge, ranknet, l1, l2) on the rest, for --seeds seeds, and report
   Kendall τ and Spearman ρ on the held-out paths (mean ± std over seeds), next to two references:
   the predictor refreshed during supernet training, and "params" (rank by parameter count: bigger =
   better). Writes RUN/predictor_ranks.png (predicted vs true rank, seed 0 of each loss) and a JSON.
   τ is also given on the held-out paths within the preset's search budget (--budget-cost, default its params
   budget): the ones the search has to tell apart, where size no longer explains the score.
4. With --train-sizes N ...: the --size-loss predictor fitted on only the first N train paths, per seed: how
   τ grows with the paths fitted on (the training-time predictor is fitted on init_paths + refresh_paths).

Usage: python bench/predictor_ranking.py [--run runs/bench-pred] [--preset demo] [--steps 300]
                                         [--paths 1000] [--holdout 0.25] [--seeds 3] [--epochs N]
                                         [--train-sizes 64 128 256] [--size-loss hinge]
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Dict, List

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
    ap.add_argument("--train-sizes", type=int, nargs="*", default=[], help="also fit on only the first N train paths")
    ap.add_argument("--size-loss", default="hinge", choices=LOSSES, help="the loss of the --train-sizes fits")
    ap.add_argument("--budget-cost", type=float, default=None,
                    help="held-out paths with cost ≤ this form the in-budget subset (default: the preset's params "
                         "budget when it samples by params)")
    args = ap.parse_args()

    from dcnas_deploy.predictor.evaluate import rank_metrics, rank_scatter
    from dcnas_deploy.predictor.model import Predictor
    from dcnas_deploy.train.predictor_runs import ensure_scored, fit_on_run
    from dcnas_deploy.costs import parse_count
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
    budget = args.budget_cost
    if budget is None and preset.sampling.constraint == "params" and "params" in preset.search.constraints:
        budget = float(parse_count(str(preset.search.constraints["params"])))
    inb = test.cost <= budget if budget is not None else np.zeros(len(test), bool)
    console.print(f"{len(rows)} scored paths, {len(test)} held out; validation {preset.data.metric} of held-out "
                  f"paths: min {test.score.min():.4f}, median {np.median(test.score):.4f}, max {test.score.max():.4f}")

    def in_budget(pred: np.ndarray) -> float:
        return rank_metrics(pred[inb], test.score[inb])["kendall"] if inb.sum() >= 3 else float("nan")

    results, scatter = {}, {}
    for loss in LOSSES:
        per_seed, per_seed_inb = [], []
        for seed in range(args.seeds):
            out = args.run / f"predictor-{loss}.pt" if seed == 0 else args.run / f"bench-{loss}-s{seed}.pt"
            rep = fit_on_run(args.run, loss, paths=args.paths, holdout=args.holdout, epochs=args.epochs, out=out,
                             seed=seed)
            per_seed.append(rep.heldout)
            pred = Predictor.load(out).score(test.genomes, test.tau)
            per_seed_inb.append(in_budget(pred))
            if seed == 0:
                scatter[loss] = pred
            else:
                out.unlink()
        results[loss] = {k: [m[k] for m in per_seed] for k in ("kendall", "spearman")}
        results[loss]["kendall_in_budget"] = per_seed_inb
        results[loss]["train_paths"] = rep.train_paths
        console.print(f"  {loss}: Kendall τ {np.mean(results[loss]['kendall']):.3f}")
    sizes: Dict[int, Dict[str, List[float]]] = {}
    for n in args.train_sizes:
        per = {"kendall": [], "kendall_in_budget": []}
        for seed in range(args.seeds):
            out = args.run / f"bench-size{n}-s{seed}.pt"
            rep = fit_on_run(args.run, args.size_loss, paths=args.paths, holdout=args.holdout, epochs=args.epochs,
                             out=out, seed=seed, train_limit=n)
            per["kendall"].append(rep.heldout["kendall"])
            per["kendall_in_budget"].append(in_budget(Predictor.load(out).score(test.genomes, test.tau)))
            out.unlink()
        sizes[rep.train_paths] = per
        console.print(f"  {args.size_loss} on {rep.train_paths} paths: Kendall τ {np.mean(per['kendall']):.3f}")
    refs = {}
    if run.predictor_path.is_file():
        pred = Predictor.load(run.predictor_path).score(test.genomes, test.tau)
        refs["training-time (" + str(preset.predictor.loss) + ")"] = {**rank_metrics(pred, test.score),
                                                                      "kendall_in_budget": in_budget(pred)}
    refs["params (bigger = better)"] = {**rank_metrics(test.cost, test.score), "kendall_in_budget": in_budget(test.cost)}

    table = Table(title=f"held-out ranking, {len(test)} paths ({int(inb.sum())} within cost ≤ {budget:g}), "
                        f"supernet {args.run} ({preset.name})" if budget is not None else
                        f"held-out ranking, {len(test)} paths, supernet {args.run} ({preset.name})")
    for col in ("predictor", "fitted on", "Kendall τ", "Spearman ρ", "τ in budget", "seeds"):
        table.add_column(col, justify="left" if col == "predictor" else "right")
    for loss, r in results.items():
        table.add_row(loss, str(r["train_paths"]), f"{np.mean(r['kendall']):.3f} ± {np.std(r['kendall']):.3f}",
                      f"{np.mean(r['spearman']):.3f} ± {np.std(r['spearman']):.3f}",
                      f"{np.mean(r['kendall_in_budget']):.3f} ± {np.std(r['kendall_in_budget']):.3f}", str(args.seeds))
    for n, r in sizes.items():
        table.add_row(args.size_loss, str(n), f"{np.mean(r['kendall']):.3f} ± {np.std(r['kendall']):.3f}", "",
                      f"{np.mean(r['kendall_in_budget']):.3f} ± {np.std(r['kendall_in_budget']):.3f}", str(args.seeds))
    for name, m in refs.items():
        table.add_row(name, "-", f"{m['kendall']:.3f}", f"{m['spearman']:.3f}", f"{m['kendall_in_budget']:.3f}", "-")
    console.print(table)
    png = rank_scatter(args.run / "predictor_ranks.png", scatter, test.score,
                       title=f"{len(test)} held-out paths ({preset.name}, seed 0)")
    (args.run / "predictor_ranking.json").write_text(json.dumps(
        {"args": {k: str(v) for k, v in vars(args).items()}, "heldout": len(test), "in_budget": int(inb.sum()),
         "budget_cost": budget, "losses": results, "train_sizes": {str(k): v for k, v in sizes.items()},
         "references": refs}, indent=2))
    console.print(f"scatter: {png}; numbers: {args.run / 'predictor_ranking.json'}")


if __name__ == "__main__":
    main()
