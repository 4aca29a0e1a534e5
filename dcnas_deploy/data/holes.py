"""Missing depth: which pixels are holes, and the one hole-filling rule every upsampler shares.

A pixel is a hole when it is NaN, ±inf or exactly 0 (0 is "no measurement" in every RGB-D format we
read: Kinect/ToF PNGs, Middlebury/Lu 8-bit maps). Holes in an LR input are filled with the value of
the nearest valid LR pixel (Euclidean distance, ties broken by scipy's EDT order) before any
upsampler runs, so no method ever interpolates a sentinel value into real depth.
"""
from __future__ import annotations

import numpy as np

from dcnas_deploy.errors import DcnasError


def invalid_mask(depth: np.ndarray) -> np.ndarray:
    """Boolean mask of holes: NaN, ±inf or exactly zero."""
    d = np.asarray(depth)
    return ~np.isfinite(d) | (d == 0)


def fill_holes(depth: np.ndarray, what: str = "LR depth") -> np.ndarray:
    """Return a float32 copy of `depth` whose holes hold the nearest valid pixel's value."""
    d = np.asarray(depth, dtype=np.float32)
    holes = invalid_mask(d)
    if not holes.any():
        return d.copy()
    if holes.all():
        raise DcnasError(f"{what} has no valid pixels (all {d.size} are 0/NaN): nothing to upsample")
    from scipy.ndimage import distance_transform_edt

    idx = distance_transform_edt(holes, return_distances=False, return_indices=True)
    return d[tuple(idx)].astype(np.float32, copy=False)
