"""Simulated depth-sensor LR: what real low-resolution captures add to the bicubic HR→LR degradation.

Real LR depth (a phone ToF, a structured-light camera) is not a clean downsampled image. On top of the
bicubic LR this module adds, with per-sample random strengths:

- noise that grows with distance (σ = s·R·(0.3 + z²), z the LR normalised to [0, 1] over its range R,
  s ~ U(0.004, 0.02)); on disparity data (Middlebury) large values are near, so this is an approximation;
- quantisation to R/U(64, 512) on half of the samples (8-bit or coarse sensor steps);
- missing pixels where depth jumps (flying pixels and occlusion shadows are discarded by real pipelines:
  20–60 % of the pixels whose 3×3 range exceeds 8 % of R), up to three missing blobs (dark or specular
  surfaces) and up to 2 % isolated dropouts.

Missing pixels become holes (0 for depth), which every upsampler fills with the nearest valid LR pixel, as
a deployment does. `sensorlr:SPEC` wraps any dataset so its LR is made this way: train on it, or evaluate
on `sensorlr:middlebury:PATH` for "simulated real LR" scores.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from dcnas_deploy.data.registry import Dataset, Subset, check_spec, open_dataset, register_dataset, task_of_spec
from dcnas_deploy.data.sample import Sample
from dcnas_deploy.errors import ConfigError

DEGRADATION = "sensor"
"""Sample.degradation value that makes degrade.make_triple apply simulate_sensor_lr."""
MAX_HOLE_SHARE = 0.5
"""Never drop more than this share of the LR pixels (a capture that is mostly holes is not a training input)."""


def simulate_sensor_lr(lr: np.ndarray, rng: np.random.Generator, zero_is_hole: bool = True) -> np.ndarray:
    """`lr` (h×w, dataset units, holes 0/NaN) with sensor noise, quantisation and missing pixels added."""
    from scipy.ndimage import maximum_filter, minimum_filter

    from dcnas_deploy.data.holes import invalid_mask

    out = np.asarray(lr, dtype=np.float32).copy()
    holes = invalid_mask(out, zero_is_hole)
    valid = out[~holes]
    if valid.size < 4:
        return out
    lo, hi = float(valid.min()), float(valid.max())
    span = hi - lo
    if span <= 0:
        return out
    z = np.clip((np.nan_to_num(out, nan=lo) - lo) / span, 0, 1)
    sigma = rng.uniform(0.004, 0.02) * span * (0.3 + z * z)
    out = out + rng.standard_normal(out.shape).astype(np.float32) * sigma.astype(np.float32)
    if rng.random() < 0.5:
        step = span / rng.uniform(64, 512)
        out = np.round(out / step) * step
    out = np.clip(out, lo, hi).astype(np.float32)
    filled = np.where(holes, lo, lr).astype(np.float32)
    edge = (maximum_filter(filled, 3) - minimum_filter(filled, 3)) > 0.08 * span
    drop = edge & (rng.random(out.shape) < rng.uniform(0.2, 0.6))
    h, w = out.shape
    yy, xx = np.mgrid[0:h, 0:w]
    for _ in range(int(rng.integers(0, 4))):
        cy, cx, r = rng.uniform(0, h), rng.uniform(0, w), rng.uniform(0.5, 2.5)
        drop |= (yy - cy) ** 2 + (xx - cx) ** 2 < r * r
    drop |= rng.random(out.shape) < rng.uniform(0, 0.02)
    drop &= ~holes
    if (drop | holes).mean() > MAX_HOLE_SHARE:  # keep the capture usable: drop a random subset instead
        idx = np.flatnonzero(drop)
        keep = int(max(0, MAX_HOLE_SHARE * out.size - holes.sum()))
        drop[:] = False
        drop.flat[rng.permutation(idx)[:keep]] = True
    out[drop | holes] = 0.0 if zero_is_hole else np.nan
    return out


class SensorLRDataset(Subset):
    """Every sample of `base` with its LR made by the simulated sensor (real LR captures are kept as they are)."""

    def __init__(self, base: Dataset):
        super().__init__(base, range(len(base)))
        self.name = f"sensorlr:{base.name}"

    def load(self, index: int) -> Sample:
        s = super().load(index)
        if s.degradation != "bicubic":
            raise ConfigError(f"sensorlr: {self.base.name} makes its LR by {s.degradation!r}, not bicubic; the sensor "
                              f"simulation applies to depth-style bicubic LR only")
        return Sample(s.name, s.guide, s.depth_hr, s.depth_lr, s.units, s.zero_is_hole, DEGRADATION)


def _check(text: Optional[str]) -> None:
    if not text:
        raise ConfigError("sensorlr needs the dataset it wraps: sensorlr:SPEC, e.g. sensorlr:middlebury:PATH")
    check_spec(text)
    if task_of_spec(text) != "depth":
        raise ConfigError(f"sensorlr simulates depth sensors; {text!r} is a {task_of_spec(text)} dataset")


@register_dataset("sensorlr", "sensorlr:SPEC (SPEC with a simulated depth-sensor LR: noise growing with depth, "
                  "quantisation, missing pixels at edges)", check=_check)
def open_sensorlr(path: Optional[str], split: str = "test", **kw) -> Dataset:
    """SPEC opened for `split`, its LR simulated as a depth sensor's."""
    _check(path)
    return SensorLRDataset(open_dataset(str(path), split, **kw))
