"""Depth normalisation (spec §1): per-image min–max of the ground truth (`gt`) or of the LR (`lr`).

`gt` is the published protocol (it peeks at the answer; use it only to compare with papers);
`lr` is deployable and the default for exported models and for a user's own images.
Both ignore holes (NaN/inf/0) when taking min and max.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Union

import numpy as np

from dcnas_deploy.data.holes import invalid_mask
from dcnas_deploy.errors import ConfigError, DcnasError

NORM_MODES = ("gt", "lr")


@dataclass(frozen=True)
class MinMax:
    """An affine map x → (x − lo) / (hi − lo) and its inverse; a flat image maps with span 1.

    lo and hi are numbers for one band, or arrays of one value per band (the last axis of H×W×C images).
    """

    lo: Union[float, np.ndarray]
    hi: Union[float, np.ndarray]

    @property
    def span(self) -> Union[float, np.ndarray]:
        """hi − lo, or 1 for a constant image/band (so normalising never divides by zero)."""
        if np.ndim(self.lo) == 0 and np.ndim(self.hi) == 0:
            s = float(self.hi) - float(self.lo)
            return s if s > 0 else 1.0
        d = np.asarray(self.hi, np.float64) - np.asarray(self.lo, np.float64)
        return np.where(d > 0, d, 1.0)

    def apply(self, x: np.ndarray) -> np.ndarray:
        """Dataset units → normalised (float32)."""
        lo, span = np.asarray(self.lo, np.float32), np.asarray(self.span, np.float32)
        return ((np.asarray(x, dtype=np.float32) - lo) / span).astype(np.float32)

    def invert(self, y: np.ndarray) -> np.ndarray:
        """Normalised → dataset units (float32)."""
        lo, span = np.asarray(self.lo, np.float32), np.asarray(self.span, np.float32)
        return (np.asarray(y, dtype=np.float32) * span + lo).astype(np.float32)


def minmax_of(depth: np.ndarray, what: str = "depth", zero_is_hole: bool = True) -> MinMax:
    """Min and max over the valid (non-hole) pixels of `depth` (zeros are holes when `zero_is_hole`)."""
    d = np.asarray(depth, dtype=np.float32)
    if d.ndim == 3:  # one min/max per band
        per = [minmax_of(d[..., c], f"{what} band {c}", zero_is_hole) for c in range(d.shape[2])]
        return MinMax(np.array([m.lo for m in per], np.float64), np.array([m.hi for m in per], np.float64))
    valid = d[~invalid_mask(d, zero_is_hole)]
    if valid.size == 0:
        raise DcnasError(f"{what} has no valid pixels (all {'0/' if zero_is_hole else ''}NaN): cannot normalise it")
    return MinMax(float(valid.min()), float(valid.max()))


def norm_stats(mode: str, lr: np.ndarray, hr: Optional[np.ndarray] = None, zero_is_hole: bool = True) -> MinMax:
    """The MinMax for normalisation `mode` ('gt' needs the HR ground truth, 'lr' only the input)."""
    if mode == "lr":
        return minmax_of(lr, "LR target", zero_is_hole)
    if mode == "gt":
        if hr is None:
            raise ConfigError("normalisation mode 'gt' needs the ground truth; use 'lr' for inference")
        return minmax_of(hr, "ground truth", zero_is_hole)
    raise ConfigError(f"unknown normalisation mode {mode!r}; known: {list(NORM_MODES)}")
