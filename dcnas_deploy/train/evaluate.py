"""Scores of paths with weights inherited from the supernet, on the fixed validation crops."""
from __future__ import annotations

from typing import Callable, Dict, Optional, Sequence, Union

import numpy as np
import torch

from dcnas_deploy.space import Arch
from dcnas_deploy.train.batches import Batch

Archs = Union[np.ndarray, Sequence[Arch]]


def masked_l1(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean absolute error over valid pixels (the training loss)."""
    m = mask.to(pred.dtype)
    return ((pred - target).abs() * m).sum() / m.sum().clamp_min(1.0)


def _per_crop(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, metric: str) -> torch.Tensor:
    m = mask.to(pred.dtype)
    n = m.sum(dim=(1, 2, 3)).clamp_min(1.0)
    diff = (pred - target) * m
    if metric == "l1":
        return diff.abs().sum(dim=(1, 2, 3)) / n
    return (diff.square().sum(dim=(1, 2, 3)) / n).sqrt()


METRICS = ("l1", "rmse")


def as_archs(archs: Archs) -> list:
    """A list of Arch from an (N, 52) genome array or a sequence of Arch."""
    if isinstance(archs, np.ndarray):
        return [Arch(g) for g in np.atleast_2d(archs)]
    return [a if isinstance(a, Arch) else Arch(a) for a in archs]


@torch.inference_mode()
def evaluate_paths(net: torch.nn.Module, archs: Archs, val_batches: Sequence[Batch], metric: str = "l1",
                   on_path: Optional[Callable[[int], None]] = None) -> np.ndarray:
    """Mean per-crop validation error (normalised units, lower is better) of each path, as float64 (N,).

    `net` is a Supernet (called as net(lr, guide, arch=a)); batches should already be on net's device.
    """
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
    archs = as_archs(archs)
    n_crops = sum(len(b) for b in val_batches)
    was_training = net.training
    net.eval()
    out = np.empty(len(archs), dtype=np.float64)
    try:
        for i, arch in enumerate(archs):
            total = torch.zeros((), dtype=torch.float64, device=val_batches[0].lr.device)
            for b in val_batches:
                pred = net(b.lr, b.guide, arch=arch)
                total += _per_crop(pred, b.hr, b.mask, metric).sum().double()
            out[i] = float(total) / n_crops
            if on_path is not None:
                on_path(i)
    finally:
        net.train(was_training)
    return out


@torch.inference_mode()
def evaluate_model(model: torch.nn.Module, val_batches: Sequence[Batch]) -> Dict[str, float]:
    """{'l1', 'rmse'} of a plain model (SubNet) on the validation crops (normalised units)."""
    was_training = model.training
    model.eval()
    sums = {m: 0.0 for m in METRICS}
    n = 0
    try:
        for b in val_batches:
            pred = model(b.lr, b.guide)
            for m in METRICS:
                sums[m] += float(_per_crop(pred, b.hr, b.mask, m).sum())
            n += len(b)
    finally:
        model.train(was_training)
    return {m: v / max(n, 1) for m, v in sums.items()}
