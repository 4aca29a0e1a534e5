"""Predictor losses by name: pairwise `hinge` (paper eq. 17), `ranknet`, and regression `l1`/`l2`.

All take predicted scores s (B,) and targets t (B,) where higher t = better path (t = −validation
loss, standardised over the fit set) and return a scalar. Pairwise losses use every pair (i < j) of
the minibatch with t_i ≠ t_j and y = sign(t_i − t_j):

- hinge:   mean (ε − (s_i − s_j)·y)_+   — eq. 17 prints 𝔑(x) = (x − ε)_+ applied to (s_i − s_j)·y,
           which would penalise correctly ordered pairs; we use the margin-ranking form it intends
           (zero loss once a pair is ordered correctly by at least ε).
- ranknet: mean log(1 + exp(−(s_i − s_j)·y))  (Burges et al.; the DCNAS authors' code)
- l1 / l2: mean |s − t| / mean (s − t)² (regression on the standardised targets).
"""
from __future__ import annotations

from typing import Callable, Dict, Tuple

import torch
import torch.nn.functional as F

from dcnas_deploy.errors import ConfigError

LossFn = Callable[[torch.Tensor, torch.Tensor, float], torch.Tensor]
_LOSSES: Dict[str, LossFn] = {}


def register_loss(name: str) -> Callable[[LossFn], LossFn]:
    """Register a predictor loss under `name`."""
    def deco(fn: LossFn) -> LossFn:
        _LOSSES[name] = fn
        return fn
    return deco


def pair_margins(s: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """(s_i − s_j)·sign(t_i − t_j) for all pairs i < j with t_i ≠ t_j (1-D)."""
    i, j = torch.triu_indices(len(s), len(s), offset=1, device=s.device)
    y = torch.sign(t[i] - t[j])
    keep = y != 0
    return (s[i] - s[j])[keep] * y[keep]


@register_loss("hinge")
def hinge(s: torch.Tensor, t: torch.Tensor, margin: float) -> torch.Tensor:
    """Pairwise margin ranking loss (eq. 17, margin ε)."""
    d = pair_margins(s, t)
    return F.relu(margin - d).mean() if d.numel() else s.sum() * 0


@register_loss("ranknet")
def ranknet(s: torch.Tensor, t: torch.Tensor, margin: float) -> torch.Tensor:
    """Pairwise logistic loss (RankNet)."""
    d = pair_margins(s, t)
    return F.softplus(-d).mean() if d.numel() else s.sum() * 0


@register_loss("l1")
def l1(s: torch.Tensor, t: torch.Tensor, margin: float) -> torch.Tensor:
    """Regression, absolute error."""
    return (s - t).abs().mean()


@register_loss("l2")
def l2(s: torch.Tensor, t: torch.Tensor, margin: float) -> torch.Tensor:
    """Regression, squared error."""
    return (s - t).square().mean()


def get_loss(name: str) -> LossFn:
    """The registered loss called `name` (ConfigError listing the known ones otherwise)."""
    try:
        return _LOSSES[name]
    except KeyError:
        raise ConfigError(f"unknown predictor loss {name!r}; known: {sorted(_LOSSES)}") from None


def known_losses() -> Tuple[str, ...]:
    """Names of the registered losses."""
    return tuple(sorted(_LOSSES))
