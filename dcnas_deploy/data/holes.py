"""Missing depth: which pixels are holes, and the one hole-filling rule every upsampler shares.

A pixel is a hole when it is NaN, ±inf or, for tasks whose zero means "no measurement" (depth: every
RGB-D format we read, Kinect/ToF PNGs, Middlebury/Lu 8-bit maps), exactly 0. For thermal and saliency
targets 0 is a value (`zero_is_hole=False`, the task registry's hole policy). Holes in an LR input are filled with the value of
the nearest valid LR pixel (Euclidean distance, ties broken by scipy's EDT order) before any
upsampler runs, so no method ever interpolates a sentinel value into real depth.
"""
from __future__ import annotations

import numpy as np

from dcnas_deploy.errors import DcnasError


def invalid_mask(depth: np.ndarray, zero_is_hole: bool = True) -> np.ndarray:
    """Boolean mask of holes: NaN, ±inf, and exactly zero when `zero_is_hole` (depth)."""
    d = np.asarray(depth)
    bad = ~np.isfinite(d)
    return bad | (d == 0) if zero_is_hole else bad


def fill_holes(depth: np.ndarray, what: str = "LR depth", zero_is_hole: bool = True) -> np.ndarray:
    """Return a float32 copy of `depth` whose holes hold the nearest valid pixel's value (per band if H×W×C)."""
    d = np.asarray(depth, dtype=np.float32)
    if d.ndim == 3:
        return np.stack([fill_holes(d[..., c], f"{what} band {c}", zero_is_hole) for c in range(d.shape[2])], axis=-1)
    holes = invalid_mask(d, zero_is_hole)
    if not holes.any():
        return d.copy()
    if holes.all():
        raise DcnasError(f"{what} has no valid pixels (all {d.size} are {'0/' if zero_is_hole else ''}NaN): "
                         "nothing to upsample")
    from scipy.ndimage import distance_transform_edt

    idx = distance_transform_edt(holes, return_distances=False, return_indices=True)
    return d[tuple(idx)].astype(np.float32, copy=False)
