"""The paper's search ablations at CPU scale, on one trained supernet (fitness = validation RMSE, inherited weights).

  Fig. 18   best fitness vs evaluations: EA with the predictor-initialised population vs plain EA vs random search
            (same evaluation budget), --seeds seeds each;
  Table VIII searching all three parts vs fixing one of them to the hand design (every slot `k3e4`, depth 2;
            fusions `concat_pw`): the guide encoder, the target encoder or the fusion ops (EA + predictor).
Budget: the preset's search constraints (params ≤ 0.6M for the CPU presets). Nothing is retrained here: the
figures are the supernet's validation RMSE of the best path found (normalised units; lower is better), which
is what the search optimises; whether the ranking survives retraining is bench/search_quality.py's question.
Writes OUT/search_ablations.csv (one row per run), OUT/fig18.png (mean best-so-far curve per strategy,
min–max band over seeds) and OUT/search_ablations.md.

Usage: python bench/search_ablations.py [--supernet dcnas_deploy/pretrained/supernet-x8] [--seeds 3]
                                        [--iterations N] [--predictor FILE] [--only all|fig18|predictor]
                                        [--out runs/search-ablations]
"""
from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np

from dcnas_deploy.fileio import atomic_write_text
from dcnas_deploy.search.constraints import Feasibility
from dcnas_deploy.train.supernet import HAND_DESIGN
from dcnas_deploy.space.genes import BRANCHES, LEVELS, N_BLOCK_GENES, SLOTS, block_gene, fusion_gene

PARTS: Dict[str, List[int]] = {
    "guide encoder": [block_gene("guide_encoder", lv, s) for lv in range(LEVELS) for s in range(SLOTS)],
    "target encoder": [block_gene("target_encoder", lv, s) for lv in range(LEVELS) for s in range(SLOTS)],
    "fusion": [fusion_gene(lv) for lv in range(LEVELS)],
}
STRATEGIES = ("evolution+predictor", "evolution", "random")
HAND = HAND_DESIGN.array()
assert len(BRANCHES) * LEVELS * SLOTS == N_BLOCK_GENES


class PinnedFeasibility(Feasibility):
    """Feasibility that also requires `genes` to hold the hand design's values (a part fixed by hand)."""

    def __init__(self, base: Feasibility, genes: List[int]):
        super().__init__(base.space, base.constraints, base.allow_bicubic)
        self.genes = np.array(genes)

    def feasible(self, genomes: np.ndarray) -> np.ndarray:
        g = np.atleast_2d(genomes)
        return super().feasible(g) & (g[:, self.genes] == HAND[self.genes]).all(axis=1)

    def sample(self, n: int, rng: np.random.Generator, batch: int = 4096, max_batches: int = 50) -> np.ndarray:
        from dcnas_deploy.search.constraints import diverse_genomes

        out: Dict[bytes, np.ndarray] = {}
        for _ in range(max_batches):
            g = np.concatenate([self.space.sample_genomes(batch // 2, rng), diverse_genomes(self.space, batch // 2, rng)])
            g[:, self.genes] = HAND[self.genes]
            for row in g[self.feasible(g)]:
                out.setdefault(row.tobytes(), row)
            if len(out) >= n:
                break
        return np.stack(list(out.values())[:n])


def _run(inputs, feas, settings, strategy: str, seed: int, scorer) -> Dict[str, object]:
    from dcnas_deploy.search.evolution import run_search

    t = time.perf_counter()
    log = run_search(inputs.space, feas, inputs.fitness, settings, strategy, scorer, seed)
    best = log.ranked()[0]
    return {"best": log.fitness[best], "evaluated": len(log.fitness), "genome": best,
            "curve": [(c["evaluated"], c["best"]) for c in log.curve], "seconds": time.perf_counter() - t}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--supernet", type=Path, default=None, help="supernet run (default: the shipped default)")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--iterations", type=int, default=None)
    ap.add_argument("--predictor", type=Path, default=None,
                    help="predictor for the predictor-initialised runs (default: the run's predictor.pt)")
    ap.add_argument("--only", choices=("all", "fig18", "predictor"), default="all",
                    help="fig18: the three Fig. 18 strategies only; predictor: only EA + predictor (to compare "
                         "predictors on the same supernet)")
    ap.add_argument("--out", type=Path, default=Path("runs/search-ablations"))
    args = ap.parse_args()

    from dcnas_deploy.pretrained import default_supernet
    from dcnas_deploy.search.constraints import size_constraints
    from dcnas_deploy.search.evolution import SearchSettings
    from dcnas_deploy.search.inputs import load_supernet_inputs

    run: Optional[Path] = args.supernet or default_supernet()
    if run is None:
        raise SystemExit("no --supernet given and no shipped default supernet")
    inputs = load_supernet_inputs(run, args.predictor)
    s = inputs.preset.search
    budgets = dict(s.constraints)
    cons = size_constraints(inputs.space, budgets)
    feas = Feasibility(inputs.space, cons)
    settings = SearchSettings.from_section(s, iterations=args.iterations)
    scorer = inputs.scorer_for(cons)
    rows: List[Dict[str, object]] = []
    t0 = time.perf_counter()
    for seed in range(args.seeds):
        for strategy in STRATEGIES[:1] if args.only == "predictor" else STRATEGIES:
            rows.append({"study": "fig18", "variant": strategy, "seed": seed,
                         **_run(inputs, feas, settings, strategy, seed, scorer)})
        for part, genes in PARTS.items() if args.only == "all" else ():
            rows.append({"study": "table8", "variant": f"{part} fixed", "seed": seed,
                         **_run(inputs, PinnedFeasibility(feas, genes), settings, "evolution+predictor", seed,
                                scorer)})
        print(f"seed {seed} done ({time.perf_counter() - t0:.0f} s)", flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    with open(args.out / "search_ablations.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["study", "variant", "seed", "best", "evaluated", "seconds", "genome"],
                           extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    _plot(rows, args.out / "fig18.png")
    text = _table(rows, run, budgets, settings, args.seeds, time.perf_counter() - t0, args.predictor)
    atomic_write_text(args.out / "search_ablations.md", text)
    print(text)


def _summary(rows, study: str, variant: str) -> str:
    v = np.array([r["best"] for r in rows if r["study"] == study and r["variant"] == variant])
    ev = np.array([r["evaluated"] for r in rows if r["study"] == study and r["variant"] == variant])
    return f"{v.mean():.5f} ({v.min():.5f}–{v.max():.5f}), {ev.mean():.0f} evaluations"


def _table(rows, run, budgets, settings, seeds: int, seconds: float, predictor: Optional[Path]) -> str:
    lines = [f"Supernet `{run}`, predictor `{predictor or Path(run) / 'predictor.pt'}`, budget {budgets}, population "
             f"{settings.population}, {settings.iterations} iterations, {seeds} seeds; best validation RMSE with "
             f"inherited weights (normalised), mean (min–max); {seconds / 60:.1f} min", "",
             "| study | variant | best val RMSE |", "|---|---|---|"]
    rows_all = [("fig18", v) for v in STRATEGIES]
    rows_all += [("table8", "all searched (= evolution+predictor)")] + [("table8", f"{p} fixed") for p in PARTS]
    have = {(r["study"], r["variant"]) for r in rows}
    if any(study == "table8" for study, _ in have):
        have.add(("table8", "all searched (= evolution+predictor)"))
    for study, variant in [sv for sv in rows_all if sv in have]:
        key = "evolution+predictor" if variant.startswith("all searched") else variant
        src = "fig18" if variant.startswith("all searched") else study
        lines.append(f"| {'Fig. 18' if study == 'fig18' else 'Table VIII'} | {variant} | {_summary(rows, src, key)} |")
    return "\n".join(lines) + "\n"


def _plot(rows, path: Path) -> None:
    from dcnas_deploy.figures import new_figure, save_png

    fig = new_figure((6, 4))
    ax = fig.add_subplot(111)
    for strategy in STRATEGIES:
        curves = [r["curve"] for r in rows if r["study"] == "fig18" and r["variant"] == strategy]
        if not curves:
            continue
        grid = np.arange(1, max(c[-1][0] for c in curves) + 1)
        best = np.array([np.interp(grid, [e for e, _ in c], np.minimum.accumulate([b for _, b in c])) for c in curves])
        ax.plot(grid, best.mean(0), label=strategy)
        ax.fill_between(grid, best.min(0), best.max(0), alpha=0.2)
    ax.set_xlabel("architectures evaluated")
    ax.set_ylabel("best validation RMSE (inherited weights)")
    ax.legend()
    save_png(fig, path)


if __name__ == "__main__":
    main()
