"""Fitting the predictor on scored paths (a fresh Adam per fit; minibatches of paths, all pairs ranked)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Union

import numpy as np
import torch

from dcnas_deploy.errors import DcnasError
from dcnas_deploy.predictor.losses import get_loss
from dcnas_deploy.predictor.model import Predictor


@dataclass
class FitResult:
    """Mean loss per epoch of one fit."""

    loss: str
    epochs: int
    history: List[float]

    @property
    def final(self) -> float:
        """Mean loss of the last epoch."""
        return self.history[-1] if self.history else float("nan")


def fit_predictor(predictor: Predictor, genomes: np.ndarray, taus: Union[float, np.ndarray], val_losses: np.ndarray,
                  *, loss: str = "hinge", margin: float = 0.1, epochs: int = 60, batch_paths: int = 64,
                  lr: float = 1e-3, weight_decay: float = 0.0, seed: int = 0) -> FitResult:
    """Train `predictor` in place so that higher score ⇔ lower validation loss; deterministic for a seed."""
    g = np.atleast_2d(np.asarray(genomes))
    y = -np.asarray(val_losses, dtype=np.float64)
    if len(g) != len(y):
        raise DcnasError(f"{len(g)} genomes but {len(y)} validation losses")
    if len(g) < 2:
        raise DcnasError(f"the predictor needs at least 2 scored paths, got {len(g)}")
    if not np.all(np.isfinite(y)):
        raise DcnasError("some validation losses are NaN/inf; the supernet may have diverged")
    target = torch.from_numpy(((y - y.mean()) / (y.std() + 1e-12)).astype(np.float32))
    tokens, tau_norm = predictor.inputs(g, taus)
    loss_fn = get_loss(loss)
    net = predictor.net
    gen = torch.Generator().manual_seed(int(seed))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        opt = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=weight_decay)
        net.train()
        history = []
        for _ in range(epochs):
            order = torch.randperm(len(g), generator=gen)
            total, batches = 0.0, 0
            for i in range(0, len(g), batch_paths):
                idx = order[i:i + batch_paths]
                if len(idx) < 2:
                    continue
                value = loss_fn(net(tokens[idx], tau_norm[idx]), target[idx], margin)
                opt.zero_grad(set_to_none=True)
                value.backward()
                opt.step()
                total += float(value.detach())
                batches += 1
            history.append(total / max(batches, 1))
        net.eval()
    predictor.meta.update({"loss": loss, "margin": margin, "fit_paths": int(len(g))})
    return FitResult(loss, epochs, history)


def new_predictor(section, tau_lo: float, tau_hi: float, seed: int = 0, meta: Optional[dict] = None) -> Predictor:
    """A fresh Predictor sized by a preset's predictor section."""
    return Predictor.create(tau_lo, tau_hi, embed_dim=section.embed_dim, hidden=section.hidden,
                            layers=section.layers, seed=seed, meta=meta)
