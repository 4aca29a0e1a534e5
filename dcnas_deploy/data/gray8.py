"""Read one-band 8-bit images (thermal counts, saliency masks) and refuse anything else with a clear reason."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from dcnas_deploy.errors import DcnasError

GRAY8_SUFFIXES = (".png", ".bmp", ".jpg", ".jpeg", ".tif", ".tiff")


def read_gray8(path: os.PathLike | str, what: str, advice: str = "") -> np.ndarray:
    """Read `path` as 8-bit grey, float32 H×W in 0–255; DcnasError naming the file and `what` otherwise.

    RGB(A) files whose colour channels are identical are read as grey; `advice` ends the 16-bit message.
    """
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise DcnasError(f"{what} not found: {path}")
    try:
        img = Image.open(path)
        img.load()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise DcnasError(f"{what} {path} cannot be read as an image ({exc})") from None
    mode = img.mode
    if mode.startswith("I") or mode == "F":
        kind = "a 16-bit" if mode.startswith("I;16") or np.asarray(img).max() > 255 else f"a {mode!r}-mode"
        raise DcnasError(f"{what} {path} is {kind} image; expected 8-bit grey (0–255){advice}")
    if mode == "P":
        raise DcnasError(f"{what} {path} is a palette (colour-mapped) image; expected 8-bit grey (0–255)")
    arr = np.asarray(img.convert("L") if mode == "1" else img)
    if mode in ("LA", "La"):
        arr = arr[..., 0]
    elif arr.ndim == 3:
        colour = arr[..., :3]
        if not (np.array_equal(colour[..., 0], colour[..., 1]) and np.array_equal(colour[..., 0], colour[..., 2])):
            raise DcnasError(f"{what} {path} has {arr.shape[-1]} channels with different values (a colour image "
                             f"or a colour-mapped visualisation); expected one band of 8-bit grey")
        arr = colour[..., 0]
    if arr.dtype != np.uint8 or arr.ndim != 2:
        raise DcnasError(f"{what} {path} holds {arr.dtype} of shape {arr.shape}; expected 8-bit grey H×W")
    return arr.astype(np.float32)
