"""`predictor fit` / `predictor eval` on a supernet run directory.

Paths are scored with the run's latest supernet weights on the run's fixed validation crops and
appended to scored_paths.csv with source 'fit', the checkpoint's step, and a split ('train' or 'test',
drawn with probability `holdout` per path). Rows scored during training are not used here: the weights
changed since. A fitted predictor goes to run_dir/predictor-<loss>.pt unless told otherwise;
run_dir/predictor.pt stays the one refreshed during training.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from dcnas_deploy.errors import ConfigError
from dcnas_deploy.predictor.scored import ScoredPaths, append_scored, read_scored
from dcnas_deploy.train.sampling import ConstraintSampler

_FIT_PATHS, _FIT_SPLIT = 6, 7


@dataclass
class FitReport:
    """Where the predictor went, its training curve and its held-out ranking quality."""

    path: Path
    loss: str
    history: List[float]
    train_paths: int
    heldout: Dict[str, float]


def _run_state(run_dir: Path | str) -> Tuple[Any, Any, int]:
    """(supernet, preset, step) of a run, with the run's torch thread setting applied."""
    from dcnas_deploy.train.loop import setup_torch
    from dcnas_deploy.train.supernet import load_supernet_at

    net, preset, step = load_supernet_at(run_dir)
    setup_torch(preset.training.threads, deterministic=False)  # oversubscribed threads run many times slower
    return net, preset, step


def fit_rows(run_dir: Path | str, step: int) -> ScoredPaths:
    """Rows scored by `predictor fit` at `step` (empty when none)."""
    p = Path(run_dir) / "scored_paths.csv"
    if not p.is_file():
        return ScoredPaths(*(np.empty(0) for _ in range(6)), np.empty((0, 52), dtype=np.int64))  # type: ignore[call-arg]
    rows = read_scored(p)
    return rows.where((rows.source == "fit") & (rows.step == step))


def ensure_scored(run_dir: Path | str, paths: int, holdout: float, on_path: Optional[Callable[[int], None]] = None,
                  on_total: Optional[Callable[[int], None]] = None) -> ScoredPaths:
    """At least `paths` uniformly drawn paths scored at the run's current step (scores only the missing ones)."""
    return _scored(run_dir, *_run_state(run_dir), paths, holdout, on_path, on_total)


def _scored(run_dir, net, preset, step: int, paths: int, holdout: float, on_path, on_total) -> ScoredPaths:
    from dcnas_deploy.train.evaluate import evaluate_paths
    from dcnas_deploy.train.trainer import validation_set

    if not 0.0 < holdout < 1.0:
        raise ConfigError(f"--holdout must be in (0, 1), got {holdout}")
    have = fit_rows(run_dir, step)
    need = paths - len(have)
    if need > 0:
        seed = preset.training.seed
        genomes = preset.make_space().sample_genomes(need, np.random.default_rng([seed, _FIT_PATHS, step, len(have)]))
        splits = np.where(np.random.default_rng([seed, _FIT_SPLIT, step, len(have)]).random(need) < holdout,
                          "test", "train")
        costs = ConstraintSampler.for_preset(preset).tables.batch(genomes)
        if on_total is not None:
            on_total(need)
        scores = evaluate_paths(net, genomes, validation_set(preset), preset.data.metric, on_path=on_path)
        append_scored(Path(run_dir) / "scored_paths.csv", step, "fit", list(splits), costs, costs, scores, genomes)
        have = fit_rows(run_dir, step)
    return have


def fit_on_run(run_dir: Path | str, loss: str, *, paths: int = 1000, holdout: float = 0.25,
               epochs: Optional[int] = None, out: Optional[Path | str] = None, seed: Optional[int] = None,
               train_limit: Optional[int] = None, on_path: Optional[Callable[[int], None]] = None,
               on_total: Optional[Callable[[int], None]] = None) -> FitReport:
    """Score paths if needed, fit a fresh predictor with `loss` on the train split, evaluate on the test split.

    `seed` (default: the run's training seed) fixes the predictor's initial weights and minibatch order;
    `train_limit` fits on the first that many train paths only (how τ grows with the paths fitted on).
    """
    from dcnas_deploy.predictor.evaluate import rank_metrics
    from dcnas_deploy.predictor.fit import fit_predictor, new_predictor
    from dcnas_deploy.predictor.losses import get_loss

    get_loss(loss)
    net, preset, step = _run_state(run_dir)
    rows = _scored(run_dir, net, preset, step, paths, holdout, on_path, on_total)
    train, test = rows.where(rows.split == "train"), rows.where(rows.split == "test")
    if train_limit is not None:
        train = train.where(np.arange(len(train)) < train_limit)
    if len(train) < 2 or len(test) < 3:
        raise ConfigError(f"too few scored paths to fit and evaluate ({len(train)} train, {len(test)} held out); "
                          f"raise --paths")
    sampler = ConstraintSampler.for_preset(preset)
    p = preset.predictor
    seed = preset.training.seed if seed is None else seed
    predictor = new_predictor(p, sampler.lo, sampler.hi, seed=seed,
                              meta={"constraint": preset.sampling.constraint, "space": preset.make_space().to_dict(),
                                    "supernet_step": step})
    result = fit_predictor(predictor, train.genomes, train.tau, train.score, loss=loss, margin=p.margin,
                           epochs=epochs or p.init_epochs, batch_paths=p.batch_paths, lr=p.lr,
                           weight_decay=p.weight_decay, seed=seed)
    heldout = rank_metrics(predictor.score(test.genomes, test.tau), test.score)
    predictor.meta["heldout"] = heldout
    target = Path(out) if out is not None else Path(run_dir) / f"predictor-{loss}.pt"
    predictor.save(target)
    return FitReport(target, loss, result.history, len(train), heldout)


def eval_on_run(run_dir: Path | str, predictors: Sequence[Path | str] = (), png: Optional[Path | str] = None
                ) -> Dict[str, Dict[str, float]]:
    """Kendall τ / Spearman ρ of each predictor on the run's held-out paths (+ a rank scatter PNG)."""
    from dcnas_deploy.predictor.evaluate import rank_metrics, rank_scatter
    from dcnas_deploy.predictor.model import Predictor
    from dcnas_deploy.train.rundir import RunDir

    run = Path(run_dir)
    step = int(RunDir(run).load_checkpoint()["step"])  # only the step: no supernet needed to evaluate
    rows = fit_rows(run, step)
    test = rows.where(rows.split == "test")
    if len(test) < 3:
        raise ConfigError(f"{run}: no held-out paths scored at step {step}; run `dcnas-deploy predictor fit "
                          f"--supernet {run}` first")
    files = [Path(p) for p in predictors] or sorted(run.glob("predictor*.pt"))
    if not files:
        raise ConfigError(f"no predictors given and none found in {run}")
    metrics, preds = {}, {}
    for f in files:
        pred = Predictor.load(f).score(test.genomes, test.tau)
        name = f.stem.replace("predictor-", "") if f.stem != "predictor" else "training-time"
        preds[name] = pred
        metrics[name] = rank_metrics(pred, test.score)
    if png is not None:
        rank_scatter(png, preds, test.score, title=f"{run.name}: {len(test)} held-out paths, supernet step {step}")
    return metrics
