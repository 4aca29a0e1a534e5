"""What a search needs from a trained supernet run: the fitness function, the predictor, the preset."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from dcnas_deploy.errors import ConfigError


@dataclass
class SupernetInputs:
    """Fitness (validation RMSE with inherited weights), optional predictor scorer, preset, training space."""

    fitness: Callable[[np.ndarray], np.ndarray]
    predictor: Optional[object]
    preset: object
    space: object
    run_dir: Path

    def scorer(self, tau: float) -> Optional[Callable[[np.ndarray], np.ndarray]]:
        """Predictor scores under constraint τ (None when the run has no predictor)."""
        if self.predictor is None:
            return None
        return lambda genomes: self.predictor.score(genomes, tau)


def load_supernet_inputs(run_dir: Path | str) -> SupernetInputs:
    """Load a `train-supernet` run directory for searching."""
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
    predictor = Predictor.load(pred_path) if pred_path.is_file() else None
    return SupernetInputs(fitness, predictor, preset, net.space, run)
