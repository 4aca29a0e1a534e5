"""Real low-resolution captures (RGB-D-D's phone ToF depth): the two conventions in use, and where they apply.

A capture is not HR/scale: RGB-D-D's 192×144 LR belongs to a 512×384 ground truth (2.67×). Published work
uses it in one of two ways, and their numbers are not comparable:

- ``resize-first`` (DCNAS, SGNet, FDSR): bicubic-resize the capture to HR/scale, then upsample ×scale.
- ``direct`` (DCTNet): upsample the capture at its own size (the guide resized to scale × the capture),
  then resample the result to the ground truth's grid for scoring.

Only ×4 has a published real-LR protocol; at ×8/×16 the resize-first input is mostly the resizing
(bicubic RMSE there *drops* from ×4 to ×8), so those scales are refused unless asked for.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Optional, Tuple

import numpy as np

from dcnas_deploy.errors import ConfigError

if TYPE_CHECKING:
    from dcnas_deploy.data.registry import Dataset

MODES = ("resize-first", "direct")
DEFAULT_MODE = "resize-first"
PUBLISHED_SCALES = (4,)


def check_real_lr(dataset: Optional["Dataset"], scale: int, mode: str, any_scale: bool = False) -> None:
    """ConfigError for an unknown mode; for `dataset`'s real LR (None: not used) at another scale than its files'
    own ratio (pan-sharpening files: `check_scale`), or at a scale with no published protocol (unless any_scale)."""
    if mode not in MODES:
        raise ConfigError(f"unknown real-LR convention {mode!r}; use one of {', '.join(MODES)}")
    if dataset is None:
        return
    from dcnas_deploy.data.registry import base_dataset

    check_scale = getattr(base_dataset(dataset), "check_scale", None)
    if check_scale is not None:  # the files fix the ratio: the RGB-D-D conventions below do not apply
        check_scale(scale)
        return
    if scale not in PUBLISHED_SCALES and not any_scale:
        raise ConfigError(f"this dataset has real LR captures, and real-LR results are published only at "
                          f"×{'/'.join(map(str, PUBLISHED_SCALES))}, not ×{scale}: use --scale 4, or --synthetic-lr "
                          f"(bicubic LR from the HR, the usual ×{scale} protocol), or --real-lr-any-scale to run it "
                          f"anyway (not comparable with any paper)")


def real_lr_inputs(capture: np.ndarray, guide: np.ndarray, scale: int, hr_hw: Tuple[int, int],
                   mode: str) -> Tuple[np.ndarray, np.ndarray]:
    """(lr, guide) fed to an upsampler for a real capture under `mode` (the guide is HR-sized on input)."""
    from dcnas_deploy.data.resize import pil_bicubic, resize_depth

    h, w = hr_hw[0] // scale, hr_hw[1] // scale
    if mode == "resize-first":
        return (capture if capture.shape == (h, w) else resize_depth(capture, (h, w))), guide
    if mode == "direct":
        hc, wc = capture.shape
        if guide.shape[:2] != (scale * hc, scale * wc):
            guide = np.clip(pil_bicubic(guide, (scale * hc, scale * wc)), 0.0, 1.0)
        return capture, guide
    raise ConfigError(f"unknown real-LR convention {mode!r}; use one of {', '.join(MODES)}")
