"""The units every data path passes around: a dataset Sample and a model-ready (lr, guide, hr) Triple."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple

import numpy as np


@dataclass
class Sample:
    """One guide/target pair as stored: guide H×W×3 in [0,1], HR target H×W in dataset units (NaN, and 0 for depth = hole)."""

    name: str
    guide: np.ndarray
    depth_hr: np.ndarray
    depth_lr: Optional[np.ndarray] = None
    """A real low-resolution capture (e.g. RGB-D-D's phone ToF), or None when LR is synthesised."""
    units: str = ""
    """Target units as a word: 'm', 'mm', '0-255', or '' when unknown."""
    zero_is_hole: bool = True
    """The task's hole policy: True for depth (0 = no measurement), False when 0 is a value."""
    degradation: str = "bicubic"
    """How HR becomes LR: 'bicubic' (PIL, the published GISR protocol), 'mtf:SENSOR' (Wald's protocol) or
    'sensor' (bicubic plus a simulated depth sensor's noise and missing pixels: data.sensor_lr)."""

    @property
    def shape(self) -> tuple:
        """HR height and width."""
        return tuple(self.depth_hr.shape[:2])


@dataclass
class Triple:
    """Model inputs and target for one sample at one scale: lr h×w, guide (s·h)×(s·w)×3, hr (s·h)×(s·w)."""

    name: str
    lr: np.ndarray
    guide: np.ndarray
    hr: np.ndarray
    scale: int
    real_lr: bool = False
    """True when `lr` is a real capture rather than bicubic-downsampled ground truth."""
    zero_is_hole: bool = True
    """The task's hole policy (see Sample)."""


def band_counts(target: np.ndarray, guide: np.ndarray) -> Tuple[int, int]:
    """(target bands, guide bands) of H×W or H×W×C arrays."""
    t, g = (1 if np.ndim(a) == 2 else int(np.shape(a)[2]) for a in (target, guide))
    return t, g
