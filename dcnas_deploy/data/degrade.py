"""HR → (lr, guide, hr): the published degradation (mod-crop + PIL bicubic on float32), optional noise,
or a real LR capture used as it comes.

Holes in the HR (NaN/inf/0) never leak into the LR as fake depth: they are filled with the nearest valid
value before resizing, and an LR pixel whose footprint is more than half holes becomes a hole (0).
On hole-free data (NYU labeled, synthetic without sensor effects) this is exactly the published protocol.

Noise (paper §IV-B, "Gaussian noise with a noise level of 25"): we follow the DCNAS authors' code,
which adds N(0, (5/255)²) to the LR after min–max normalising it by the ground truth and clips to
[0, 1]. So `noise_level` is the variance on a 0–255 scale of the image's valid GT range:
σ = √noise_level / 255 · (max − min), and the noisy LR is clipped to [min, max] of the GT.
"""
from __future__ import annotations

import math
import zlib
from typing import Optional

import numpy as np

from dcnas_deploy.data.holes import invalid_mask
from dcnas_deploy.data.normalize import minmax_of
from dcnas_deploy.data.resize import mod_crop, resize_depth
from dcnas_deploy.data.sample import Sample, Triple
from dcnas_deploy.errors import ConfigError, DcnasError

def mtf_degrade(hr: np.ndarray, scale: int, sensor: str) -> np.ndarray:
    """Wald's reduced-resolution LR: per-band blur matched to `sensor`'s MTF gains, then decimation."""
    from dcnas_deploy.data.wald import degrade_ms, ms_gains

    bands = 1 if hr.ndim == 2 else hr.shape[2]
    return degrade_ms(hr, scale, ms_gains(sensor, bands))


def add_noise(lr: np.ndarray, hr: np.ndarray, noise_level: float, rng: np.random.Generator,
              zero_is_hole: bool = True) -> np.ndarray:
    """Add the paper's Gaussian noise to `lr` (σ = √level/255 of the GT range), clipped to the GT range."""
    if noise_level < 0:
        raise ConfigError(f"noise level must be ≥ 0, got {noise_level}")
    if noise_level == 0:
        return lr
    mm = minmax_of(hr, "ground truth", zero_is_hole)
    sigma = math.sqrt(noise_level) / 255.0 * (np.asarray(mm.hi) - np.asarray(mm.lo))  # one per band
    holes = invalid_mask(lr, zero_is_hole)
    noisy = np.clip(lr + rng.normal(0.0, sigma, lr.shape).astype(np.float32), mm.lo, mm.hi).astype(np.float32)
    noisy[holes] = lr[holes]
    return noisy


def _rng_for(name: str, seed: int) -> np.random.Generator:
    """A generator fixed by the sample name, so noise does not depend on evaluation order."""
    return np.random.default_rng([zlib.crc32(name.encode("utf-8")), seed])


def make_triple(sample: Sample, scale: int, *, noise_level: float = 0.0, use_real_lr: bool = True,
                rng: Optional[np.random.Generator] = None, seed: int = 0, real_lr_mode: str = "resize-first") -> Triple:
    """The (lr, guide, hr) triple of `sample` at `scale`: mod-crop, then real LR or bicubic HR→LR, then noise.

    A real LR capture is used under `real_lr_mode` (data.real_lr): 'resize-first' resizes it to exactly
    HR/scale with PIL bicubic (the RGB-D-D protocol of FDSR, SGNet and DCNAS: 192×144 phone depth →
    128×96 for ×4 of 512×384); 'direct' keeps it and resizes the guide to scale × its size instead.
    """
    from dcnas_deploy.data.real_lr import real_lr_inputs

    if int(scale) != scale or scale < 1:
        raise ConfigError(f"scale must be a positive integer, got {scale}")
    scale = int(scale)
    hr = mod_crop(np.asarray(sample.depth_hr, dtype=np.float32), scale)
    guide = mod_crop(np.asarray(sample.guide, dtype=np.float32), scale)
    h, w = hr.shape[0] // scale, hr.shape[1] // scale
    if h == 0 or w == 0:
        raise DcnasError(f"sample {sample.name!r} ({sample.depth_hr.shape[0]}×{sample.depth_hr.shape[1]}) is "
                         f"smaller than the scale ×{scale}")
    real = use_real_lr and sample.depth_lr is not None
    if real:
        lr, guide = real_lr_inputs(np.asarray(sample.depth_lr, dtype=np.float32), guide, scale, hr.shape,
                                   real_lr_mode)
    elif sample.degradation.startswith("mtf:"):
        lr = mtf_degrade(hr, scale, sample.degradation[4:])
    else:
        lr = resize_depth(hr, (h, w), sample.zero_is_hole)
        if sample.degradation == "sensor":
            from dcnas_deploy.data.sensor_lr import simulate_sensor_lr

            lr = simulate_sensor_lr(lr, rng if rng is not None else _rng_for(sample.name, seed + 1), sample.zero_is_hole)
    if noise_level:
        lr = add_noise(lr, hr, noise_level, rng if rng is not None else _rng_for(sample.name, seed),
                       sample.zero_is_hole)
    return Triple(sample.name, np.ascontiguousarray(lr), np.ascontiguousarray(guide), np.ascontiguousarray(hr),
                  scale, real, sample.zero_is_hole)
