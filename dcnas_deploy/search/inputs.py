"""What a search needs from a trained supernet run: the fitness function, the predictor, the preset."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Dict, Optional, Sequence

import numpy as np

from dcnas_deploy.errors import ConfigError

if TYPE_CHECKING:
    from dcnas_deploy.predictor.model import Predictor
    from dcnas_deploy.presets import Preset
    from dcnas_deploy.space import SearchSpace


@dataclass
class SupernetInputs:
    """Fitness (validation RMSE with inherited weights), optional predictor scorer, preset, training space."""

    fitness: Callable[[np.ndarray], np.ndarray]
    predictor: Optional[Predictor]
    preset: Preset
    space: SearchSpace
    run_dir: Path
    fitness_key: Dict[str, str] = field(default_factory=dict)
    """What the fitness depends on (checkpoint hash, validation data, metric) and its hash, `fitness_key`."""

    def scorer(self, tau: float) -> Optional[Callable[[np.ndarray], np.ndarray]]:
        """Predictor scores under constraint τ (None when the run has no predictor)."""
        if self.predictor is None:
            return None
        return lambda genomes: self.predictor.score(genomes, tau)  # type: ignore[union-attr]  # checked above

    def scorer_for(self, constraints: Sequence[Any]) -> Optional[Callable[[np.ndarray], np.ndarray]]:
        """Predictor scores at the τ that `predictor_tau` picks for these search constraints (None without one)."""
        tau = predictor_tau(self.predictor, constraints)
        return None if tau is None else self.scorer(tau)


def predictor_tau(predictor: Any, constraints: Sequence[Any]) -> Optional[float]:
    """τ for the predictor: the search's budget on the very cost its supernet was trained under, else its loosest τ.

    The cost must match exactly (`latency:cpu-tflite` is not `latency:cpu`: another device's milliseconds mean
    nothing to it); without such a budget the predictor ranks at tau_hi, the loosest constraint it was trained
    on. None when there is no predictor. `search` and the demo both use this rule.
    """
    if predictor is None:
        return None
    trained = str(predictor.meta.get("constraint") or "")
    for c in constraints:
        if c.name == trained:
            return float(c.budget)
    return float(predictor.tau_hi)


def load_supernet_inputs(run_dir: Path | str, predictor: Optional[Path | str] = None) -> SupernetInputs:
    """Load a `train-supernet` run directory for searching, with RUN/predictor.pt or the `predictor` file given."""
    import torch

    from dcnas_deploy.predictor.model import Predictor
    from dcnas_deploy.train.evaluate import evaluate_paths
    from dcnas_deploy.train.supernet import load_supernet, validation_set

    run = Path(run_dir)
    if not run.is_dir():
        raise ConfigError(f"supernet run not found: {run} (train one with `dcnas-deploy train-supernet`)")
    net, preset = load_supernet(run)
    val = validation_set(preset)
    metric = "rmse"

    def fitness(genomes: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return evaluate_paths(net, genomes, val, metric=metric)

    pred_path = run / "predictor.pt"
    loaded: Optional[Predictor] = None
    if predictor is not None:
        loaded = Predictor.load(predictor)  # a missing or foreign file is a ConfigError naming it
        check_predictor_space(loaded, net.space, Path(predictor))
    elif pred_path.is_file():
        loaded = Predictor.load(pred_path)
    return SupernetInputs(fitness, loaded, preset, net.space, run, fitness_identity(run, preset, metric))


def check_predictor_space(predictor: Any, space: SearchSpace, source: Path) -> None:
    """Refuse a predictor fitted on paths of another search space (its ranking says nothing about this one)."""
    fitted, here = predictor.meta.get("space"), space.to_dict()
    if fitted is not None and fitted != here:
        diff = sorted(k for k in set(fitted) | set(here) if fitted.get(k) != here.get(k))
        raise ConfigError(f"{source}: this predictor was fitted on another search space (differs in "
                          f"{', '.join(diff)}); fit one on this supernet with `dcnas-deploy predictor fit`")


def fitness_identity(run: Path, preset, metric: str) -> Dict[str, str]:
    """What a path's fitness depends on: the supernet's weights (checkpoint SHA-256), validation data, metric."""
    digest = hashlib.sha256()
    with open(run / "checkpoint.pt", "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    d = preset.to_dict()
    ident = {"checkpoint_sha256": digest.hexdigest(), "data": json.dumps(d["data"], sort_keys=True),
             "space": json.dumps(d["space"], sort_keys=True), "metric": metric}
    key = hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()
    return {"fitness_key": key, "supernet": str(run), **ident}
