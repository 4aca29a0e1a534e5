"""Read and write depth maps and RGB guides, with clear errors for files that are not what we need.

Depth formats: 16-bit PNG, 8-bit PNG, float TIFF, ``.npy`` (2-D, or with one singleton channel axis)
and ``.pfm``. Values are returned as float32 in the file's own units (no scaling). A depth PNG saved as
RGB(A) whose colour channels are identical is read as its first channel; one with differing channels
is refused (it is a colour image or a colour-mapped visualisation, not raw depth).

Guides: RGB images (PNG/JPEG/BMP/TIFF; RGBA drops alpha, palette images are converted) or ``.npy``
H×W×3 (uint8, or float in [0,1]); returned as float32 H×W×3 in [0,1]. One-channel guides are refused
unless asked for with ``bands=1``: grey PNG/JPEG/BMP (8- or 16-bit), TIFF or ``.npy`` (uint8, uint16 or
float in [0,1]), returned as float32 H×W×1 in [0,1].

Images of any band count (thermal, multispectral): ``read_bands``/``write_bands`` (data.bands).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Tuple

import numpy as np

from dcnas_deploy.data.bands import (BandFormat, band_info, check_bands, check_dtype, integer_pixels,  # noqa: F401
                                     read_bands, write_bands)
from dcnas_deploy.errors import ConfigError, DcnasError

DEPTH_SUFFIXES = (".png", ".npy", ".pfm", ".tif", ".tiff")
GUIDE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".npy")


@dataclass(frozen=True)
class DepthFormat:
    """How a depth file stores its values: container suffix and sample dtype."""

    suffix: str
    dtype: str
    """'uint8', 'uint16' or 'float32'."""


def _exists(path: Path, what: str) -> None:
    if not path.exists():
        raise DcnasError(f"{what} not found: {path}")
    if path.is_dir():
        raise DcnasError(f"{what} {path} is a directory, expected a file")


def _open_pil(path: Path, what: str):
    from PIL import Image, UnidentifiedImageError

    try:
        img = Image.open(path)
        img.load()
        return img
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise DcnasError(f"{what} {path} cannot be read as an image ({exc})") from None


def read_pfm(path: os.PathLike | str) -> np.ndarray:
    """Read a PFM file (Pf grey or PF colour) into float32 H×W or H×W×3, top row first."""
    path = Path(path)
    _exists(path, "PFM file")
    with open(path, "rb") as fh:
        try:
            header = fh.readline().decode("ascii").strip()
            if header not in ("PF", "Pf"):
                raise ValueError(f"header {header!r} is not 'PF' or 'Pf'")
            dims = fh.readline().decode("ascii").split()
            while len(dims) < 2:  # width and height may sit on separate lines
                dims += fh.readline().decode("ascii").split()
            width, height = int(dims[0]), int(dims[1])
            scale = float(fh.readline().decode("ascii").strip())
        except (ValueError, UnicodeDecodeError, IndexError) as exc:
            raise DcnasError(f"PFM file {path} has a malformed header ({exc})") from None
        channels = 3 if header == "PF" else 1
        data = np.fromfile(fh, dtype="<f4" if scale < 0 else ">f4")
    expected = width * height * channels
    if data.size != expected:
        raise DcnasError(f"PFM file {path} holds {data.size} values, header says {width}×{height}×{channels}")
    arr = data.reshape(height, width, channels) if channels == 3 else data.reshape(height, width)
    return np.ascontiguousarray(np.flipud(arr)).astype(np.float32)


def write_pfm(path: os.PathLike | str, arr: np.ndarray) -> None:
    """Write a float32 H×W (Pf) or H×W×3 (PF) array as little-endian PFM, atomically."""
    from dcnas_deploy.fileio import atomic_write_bytes

    a = np.asarray(arr, dtype="<f4")
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] != 3):
        raise DcnasError(f"PFM holds H×W or H×W×3 arrays, got shape {a.shape}")
    header = f"{'PF' if a.ndim == 3 else 'Pf'}\n{a.shape[1]} {a.shape[0]}\n-1.0\n".encode("ascii")
    atomic_write_bytes(path, header + np.ascontiguousarray(np.flipud(a)).tobytes())


def _single_channel(arr: np.ndarray, path: Path, image: bool = False) -> np.ndarray:
    """H×W from H×W, H×W×1, 1×H×W, or (images only) H×W×3/4 with identical colour channels."""
    if arr.ndim == 2:
        return arr
    if arr.ndim == 3 and arr.shape[-1] == 1:
        return arr[..., 0]
    if arr.ndim == 3 and arr.shape[0] == 1:
        return arr[0]
    if image and arr.ndim == 3 and arr.shape[-1] in (3, 4):
        colour = arr[..., :3]
        if np.array_equal(colour[..., 0], colour[..., 1]) and np.array_equal(colour[..., 0], colour[..., 2]):
            return colour[..., 0]
        raise DcnasError(f"depth file {path} has {arr.shape[-1]} channels with different values: it looks "
                         "like a colour image or a colour-mapped visualisation; expected one channel of raw "
                         "depth (16-bit or 8-bit grey PNG, .npy, .pfm)")
    raise DcnasError(f"depth file {path} has shape {arr.shape}; expected H×W (one channel)")


def read_depth_file(path: os.PathLike | str) -> Tuple[np.ndarray, DepthFormat]:
    """Read a depth map as float32 H×W in the file's units, plus how the file stored it."""
    path = Path(path)
    _exists(path, "depth file")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        from dcnas_deploy.data.bands import load_npy

        return _single_channel(load_npy(path, "depth file"), path).astype(np.float32), DepthFormat(".npy", "float32")
    if suffix == ".pfm":
        return _single_channel(read_pfm(path), path, image=True), DepthFormat(".pfm", "float32")
    if suffix not in DEPTH_SUFFIXES:
        raise DcnasError(f"depth file {path} has suffix {path.suffix!r}; expected one of {list(DEPTH_SUFFIXES)} "
                         "(lossy formats such as JPEG corrupt depth)")
    img = _open_pil(path, "depth file")
    mode = img.mode
    if mode == "P":
        raise DcnasError(f"depth file {path} is a palette (colour-mapped) image; expected raw grey depth")
    arr = np.asarray(img)
    if mode in ("LA", "La"):
        arr = arr[..., 0]
    arr = _single_channel(arr, path, image=True)
    if arr.dtype == np.uint8:
        dtype = "uint8"
    elif arr.dtype in (np.uint16, np.int32, np.int16) or mode.startswith("I"):
        dtype = "uint16"
    else:
        dtype = "float32"
    return arr.astype(np.float32), DepthFormat(suffix if suffix != ".tiff" else ".tif", dtype)


def read_depth(path: os.PathLike | str) -> np.ndarray:
    """Read a depth map as float32 H×W in the file's own units."""
    return read_depth_file(path)[0]


def read_guide(path: os.PathLike | str, bands: int = 3) -> np.ndarray:
    """Read an RGB guide as float32 H×W×3 in [0,1] (or, with bands=1, a grey one as H×W×1)."""
    path = Path(path)
    _exists(path, "guide image")
    if bands == 1:
        return _read_grey_guide(path)
    if bands != 3:
        raise ConfigError(f"guides have 1 (grey) or 3 (RGB) bands, not {bands}")
    if path.suffix.lower() == ".npy":
        try:
            arr = np.load(path, allow_pickle=False)
        except (ValueError, OSError, EOFError) as exc:
            raise DcnasError(f"guide file {path} cannot be read as a .npy array ({exc})") from None
        return as_guide(arr, str(path))
    img = _open_pil(path, "guide image")
    if img.mode in ("RGBA", "P", "PA", "CMYK", "YCbCr", "LAB", "HSV", "RGBX", "RGBa"):
        img = img.convert("RGB")
    if img.mode != "RGB":
        raise DcnasError(f"guide image {path} has mode {img.mode!r} ({len(img.getbands())} channel(s)); "
                         "expected an RGB colour image (3 channels)")
    return np.asarray(img, dtype=np.float32) / np.float32(255.0)


def _read_grey_guide(path: Path) -> np.ndarray:
    """A one-band guide file as float32 H×W×1 in [0,1] (8/16-bit integers scaled by their maximum)."""
    if path.suffix.lower() in (".jpg", ".jpeg", ".bmp"):
        img = _open_pil(path, "guide image")
        if img.mode not in ("L", "1"):
            raise DcnasError(f"guide image {path} has {len(img.getbands())} band(s) (mode {img.mode!r}); "
                             "expected 1 (grey)")
        return np.asarray(img.convert("L"), dtype=np.float32)[..., None] / np.float32(255.0)
    if path.suffix.lower() not in GUIDE_SUFFIXES:
        raise DcnasError(f"guide image {path} has suffix {path.suffix!r}; expected one of {list(GUIDE_SUFFIXES)}")
    if path.suffix.lower() == ".npy":  # keep the stored dtype: uint8/uint16 are scaled, floats must be in [0,1]
        try:
            raw = np.load(path, allow_pickle=False)
        except (ValueError, OSError, EOFError) as exc:
            raise DcnasError(f"guide file {path} cannot be read as a .npy array ({exc})") from None
        return as_guide(raw, f"guide file {path}", bands=1)
    arr, fmt = read_bands(path)
    check_bands(arr, 1, path, "the grey guide")
    if fmt.dtype == "uint8":
        return arr / np.float32(255.0)
    if fmt.dtype == "uint16":
        return arr / np.float32(65535.0)
    return as_guide(arr, f"guide image {path}", bands=1)


def as_guide(arr: np.ndarray, what: str = "guide", bands: int = 3) -> np.ndarray:
    """Validate an in-memory guide: H×W×3 (or, bands=1, H×W / H×W×1), uint8 or float in [0,1]; float32 out.

    uint8 is scaled by 1/255; a one-band guide may also be uint16 (scaled by 1/65535). One-band guides
    come out as H×W×1.
    """
    a = np.asarray(arr)
    if bands == 1:
        if a.ndim == 2:
            a = a[..., None]
        if a.ndim != 3 or a.shape[2] != 1:
            found = f"{a.shape[2]} bands" if a.ndim == 3 else f"shape {a.shape}"
            raise DcnasError(f"{what} has {found}; expected 1 band (H×W or H×W×1 grey)")
        if a.dtype == np.uint16:
            return a.astype(np.float32) / np.float32(65535.0)
    elif bands != 3:
        raise ConfigError(f"guides have 1 (grey) or 3 (RGB) bands, not {bands}")
    elif a.ndim != 3 or a.shape[2] != 3:
        raise DcnasError(f"{what} has shape {a.shape}; expected H×W×3 RGB")
    if a.dtype == np.uint8:
        return a.astype(np.float32) / np.float32(255.0)
    if a.dtype.kind != "f":
        raise DcnasError(f"{what} has dtype {a.dtype}; expected uint8 or float in [0,1]")
    a = a.astype(np.float32)
    if not np.isfinite(a).all():
        raise DcnasError(f"{what} contains NaN/inf values")
    if a.min() < -1e-3 or a.max() > 1.0 + 1e-3:
        raise DcnasError(f"{what} values span [{a.min():.3g}, {a.max():.3g}]; expected [0, 1]")
    return np.clip(a, 0.0, 1.0)


def check_depth_output(path: os.PathLike | str, fmt: Optional[DepthFormat] = None) -> None:
    """DcnasError when depth of input format `fmt` cannot be written to `path` (call it before the work)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".png", ".npy", ".pfm"):
        raise DcnasError(f"cannot write depth as {path.suffix!r}; use .png, .npy or .pfm")
    if suffix == ".png" and fmt is not None and fmt.dtype == "float32":
        raise DcnasError(f"the input depth was float ({fmt.suffix}); writing it to PNG would round it to "
                         f"integers: write {path.with_suffix(fmt.suffix)} (or .npy/.pfm) instead")


def write_depth(path: os.PathLike | str, depth: np.ndarray, fmt: Optional[DepthFormat] = None) -> Path:
    """Write depth atomically in the format of `path`'s suffix (PNG dtype from `fmt`, default 16-bit).

    PNG output is rounded to the dtype and, with an integer `fmt` (the input's), clipped to its range; without
    `fmt` values outside the range are refused (integer_pixels). NaN/inf become 0 (no measurement).
    Float depth from a .npy/.pfm input is not written to PNG (it would be quantised to integers).
    """
    from PIL import Image

    from dcnas_deploy.fileio import atomic_write

    path = Path(path)
    d = np.asarray(depth, dtype=np.float32)
    if d.ndim != 2:
        raise DcnasError(f"depth to write has shape {d.shape}; expected H×W")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        def _save_npy(tmp: str) -> None:
            with open(tmp, "wb") as fh:
                np.save(fh, d)

        return atomic_write(path, _save_npy)
    if suffix == ".pfm":
        write_pfm(path, d)
        return path
    check_depth_output(path, fmt)
    out = integer_pixels(d, fmt.dtype if fmt is not None else "uint16", path, keep=(".npy", ".pfm"),
                         clip=fmt is not None)
    return atomic_write(path, lambda tmp: Image.fromarray(out).save(tmp, format="PNG"))
