"""PIL-bicubic resizing on float32 arrays: the published degradation protocol (HR→LR and LR-up)."""
from __future__ import annotations

from typing import Tuple

import numpy as np

from dcnas_deploy.data.holes import fill_holes, invalid_mask


def pil_bicubic(img: np.ndarray, size_hw: Tuple[int, int]) -> np.ndarray:
    """Resize a 2-D (H×W) or channel-last (H×W×C) float array with PIL's bicubic (a=-0.5) in float32."""
    from PIL import Image

    arr = np.asarray(img, dtype=np.float32)
    h, w = int(size_hw[0]), int(size_hw[1])
    if arr.ndim == 2:
        return np.array(Image.fromarray(arr, mode="F").resize((w, h), Image.Resampling.BICUBIC), dtype=np.float32)  # writable
    if arr.ndim == 3:
        return np.stack([pil_bicubic(arr[..., c], (h, w)) for c in range(arr.shape[-1])], axis=-1)
    raise ValueError(f"expected an H×W or H×W×C array, got shape {arr.shape}")


def bicubic_down(hr: np.ndarray, scale: int) -> np.ndarray:
    """HR → LR by PIL bicubic at 1/scale; the HR size must be divisible by scale (mod-crop first)."""
    h, w = hr.shape[:2]
    if h % scale or w % scale:
        raise ValueError(f"HR size {h}×{w} is not divisible by scale {scale}: mod-crop it first")
    return pil_bicubic(hr, (h // scale, w // scale))


def bicubic_up(lr: np.ndarray, scale: int) -> np.ndarray:
    """LR → HR size by PIL bicubic at ×scale (the network's global residual `lr_up`)."""
    h, w = lr.shape[:2]
    return pil_bicubic(lr, (h * scale, w * scale))


def mod_crop(img: np.ndarray, scale: int) -> np.ndarray:
    """Crop the bottom/right so that height and width are multiples of scale."""
    h, w = img.shape[:2]
    return img[: h - h % scale, : w - w % scale]


def _box_fraction(mask: np.ndarray, size_hw: Tuple[int, int]) -> np.ndarray:
    """Fraction of True pixels of `mask` in each output pixel's footprint (PIL box filter)."""
    from PIL import Image

    img = Image.fromarray(mask.astype(np.float32), mode="F")
    return np.asarray(img.resize((size_hw[1], size_hw[0]), Image.Resampling.BOX), dtype=np.float32)


def resize_depth(depth: np.ndarray, size_hw: Tuple[int, int], zero_is_hole: bool = True) -> np.ndarray:
    """PIL-bicubic resize of a target to `size_hw`, keeping holes as holes instead of smearing them.

    Holes come back as 0 for depth and as NaN for tasks where 0 is a value. H×W×C targets go band by band.
    """
    if np.ndim(depth) == 3:
        return np.stack([resize_depth(depth[..., c], size_hw, zero_is_hole) for c in range(depth.shape[2])], axis=-1)
    holes = invalid_mask(depth, zero_is_hole)
    if not holes.any():
        return pil_bicubic(depth, size_hw)
    out = pil_bicubic(fill_holes(depth, "target", zero_is_hole), size_hw)
    out[_box_fraction(holes, size_hw) > 0.5] = 0 if zero_is_hole else np.nan
    return out
