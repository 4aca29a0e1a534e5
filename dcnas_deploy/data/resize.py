"""PIL-bicubic resizing on float32 arrays: the published degradation protocol (HR→LR and LR-up)."""
from __future__ import annotations

from typing import Tuple

import numpy as np


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
