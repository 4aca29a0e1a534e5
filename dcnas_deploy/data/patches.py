"""Training patches (torch-free): random HR crops with flips/90° rotations, degraded like the test data.

Synthesised LR (the published protocol): crop the HR depth and guide, augment, then bicubic-downsample
the patch (as the DCNAS authors' loader does). Real LR (RGB-D-D): build the full-image triple first,
then cut aligned LR/HR patches (HR offsets on multiples of the scale) and augment them together.
Batches are built from `random_patch` by train.batches (TrainStream).
"""
from __future__ import annotations

from typing import List

import numpy as np

from dcnas_deploy.data.degrade import make_triple
from dcnas_deploy.data.sample import Sample, Triple
from dcnas_deploy.errors import ConfigError, DcnasError


def _augment(arrays: List[np.ndarray], rng: np.random.Generator) -> List[np.ndarray]:
    """The same random flip / vertical flip / transpose (8 dihedral variants) on each H×W[×C] array."""
    hflip, vflip, transpose = rng.random(3) < 0.5
    out = []
    for a in arrays:
        if hflip:
            a = a[:, ::-1]
        if vflip:
            a = a[::-1]
        if transpose:
            a = a.swapaxes(0, 1)
        out.append(np.ascontiguousarray(a))
    return out


def random_patch(sample: Sample, patch_size: int, scale: int, rng: np.random.Generator, *,
                 augment: bool = True, noise_level: float = 0.0, use_real_lr: bool = True) -> Triple:
    """One random training Triple of HR size patch_size×patch_size from `sample`."""
    if patch_size % scale:
        raise ConfigError(f"patch size {patch_size} must be a multiple of the scale {scale}")
    H, W = sample.depth_hr.shape[:2]
    if H < patch_size or W < patch_size:
        raise DcnasError(f"sample {sample.name!r} is {H}×{W}, smaller than the {patch_size}×{patch_size} patch")
    if use_real_lr and sample.depth_lr is not None:
        full = make_triple(sample, scale, use_real_lr=True, noise_level=noise_level, rng=rng)
        Hc, Wc = full.hr.shape
        y = int(rng.integers(0, (Hc - patch_size) // scale + 1)) * scale
        x = int(rng.integers(0, (Wc - patch_size) // scale + 1)) * scale
        hr = full.hr[y:y + patch_size, x:x + patch_size]
        guide = full.guide[y:y + patch_size, x:x + patch_size]
        p = patch_size // scale
        lr = full.lr[y // scale:y // scale + p, x // scale:x // scale + p]
        if augment:
            lr, guide, hr = _augment([lr, guide, hr], rng)
        return Triple(sample.name, lr, guide, hr, scale, True, sample.zero_is_hole)
    y, x = int(rng.integers(0, H - patch_size + 1)), int(rng.integers(0, W - patch_size + 1))
    hr = sample.depth_hr[y:y + patch_size, x:x + patch_size]
    guide = sample.guide[y:y + patch_size, x:x + patch_size]
    if augment:
        hr, guide = _augment([hr, guide], rng)
    crop = Sample(sample.name, guide, hr, None, sample.units, sample.zero_is_hole, sample.degradation)
    return make_triple(crop, scale, noise_level=noise_level, use_real_lr=False, rng=rng)
