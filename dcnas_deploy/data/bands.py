"""N-band images (thermal, grey and RGB guides, multispectral): read and write PNG, TIFF and ``.npy``.

Arrays are H×W×C float32 in the file's own units (no scaling); `BandFormat` says how the file stored
them (container, sample type, band count) so that a result can be written back the same way.

- PNG: 1 band (grey, 8- or 16-bit) or 3 bands (RGB, 8-bit). Pillow reads a 16-bit colour PNG as 8-bit
  (it drops the low byte), so those are refused, as are 2 and 4+ band data (use .tif or .npy). An
  alpha channel that is fully opaque is dropped; one with transparency is refused.
- TIFF (tifffile): any band count; uint8, uint16 or float samples; interleaved H×W×C or planar C×H×W,
  told apart by the smallest axis (≤ 16 bands). Written interleaved.
- NPY: H×W or H×W×C, any numeric dtype (read as float32); written as float32.

Writes are atomic (dcnas_deploy.fileio). Integer outputs are rounded and clipped to the sample type's
range, NaN/inf becoming 0, as for depth PNGs.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Tuple

import numpy as np

from dcnas_deploy.errors import ConfigError, DcnasError

BAND_SUFFIXES = (".png", ".tif", ".tiff", ".npy")
MAX_BANDS = 16
"""Largest band count a TIFF axis may have to be taken as the band axis."""
_BITS = {"uint8": 8, "uint16": 16, "float32": 32}


@dataclass(frozen=True)
class BandFormat:
    """How an image file stores its bands: container suffix, sample dtype and band count."""

    suffix: str
    """'.png', '.tif' or '.npy'."""
    dtype: str
    """'uint8', 'uint16' or 'float32'."""
    bands: int

    @property
    def bits(self) -> int:
        """Bits per sample (8, 16 or 32)."""
        return _BITS[self.dtype]

    def describe(self) -> str:
        """Band count and bit depth in words, e.g. '3-band 8-bit PNG' or '1-band 32-bit float TIFF'."""
        return f"{self.bands}-band {_depth_words(self.dtype)} {_container(self.suffix)}"


def _depth_words(dtype: str) -> str:
    return f"{_BITS[dtype]}-bit" + (" float" if dtype == "float32" else "")


def _container(suffix: str) -> str:
    return {".png": "PNG", ".tif": "TIFF", ".npy": ".npy array"}.get(suffix, suffix)


def _exists(path: Path) -> None:
    if not path.exists():
        raise DcnasError(f"image file not found: {path}")
    if path.is_dir():
        raise DcnasError(f"image file {path} is a directory, expected a file")


def _suffix(path: Path) -> str:
    s = path.suffix.lower()
    return ".tif" if s == ".tiff" else s


def _dtype_name(dtype: np.dtype, path: Path) -> str:
    if dtype == np.uint8 or dtype == np.bool_:
        return "uint8"
    if dtype == np.uint16:
        return "uint16"
    if dtype.kind == "f":
        return "float32"
    raise DcnasError(f"{path} holds {dtype} samples; expected uint8, uint16 or float (convert it, e.g. to float32 "
                     "with numpy and save as .npy)")


def _png_header(path: Path) -> Tuple[int, int]:
    """(bit depth, colour type) from a PNG's IHDR chunk."""
    with open(path, "rb") as fh:
        head = fh.read(26)
    if len(head) < 26 or head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        raise DcnasError(f"{path} is not a valid PNG file (bad signature or header)")
    return head[24], head[25]


def _read_png(path: Path) -> Tuple[np.ndarray, BandFormat]:
    from PIL import Image, UnidentifiedImageError

    bit_depth, colour_type = _png_header(path)
    if bit_depth == 16 and colour_type in (2, 6):
        raise DcnasError(f"{path} is a 16-bit colour PNG, which Pillow reads as 8-bit (losing the low byte); "
                         "save the bands as .tif (tifffile) or .npy instead")
    try:
        img: Image.Image = Image.open(path)
        img.load()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise DcnasError(f"{path} cannot be read as a PNG image ({exc})") from None
    if img.mode in ("1", "P", "PA"):
        img = img.convert("RGBA" if img.mode == "PA" or "transparency" in img.info else
                          ("L" if img.mode == "1" else "RGB"))
    arr = np.asarray(img)
    if img.mode in ("LA", "RGBA"):
        alpha = arr[..., -1]
        if not (alpha == np.iinfo(arr.dtype).max).all():
            raise DcnasError(f"{path} has an alpha channel with transparent pixels; image bands are not stored "
                             "as PNG alpha: save them as .tif or .npy")
        arr = arr[..., :-1]
    if arr.ndim == 2:
        arr = arr[..., None]
    if arr.dtype.kind == "i":  # 16-bit grey opened as 'I' (int32)
        arr = arr.astype(np.uint16)
    dtype = "uint16" if bit_depth == 16 else "uint8"
    return arr.astype(np.float32), BandFormat(".png", dtype, arr.shape[2])


def _to_hwc(arr: np.ndarray, path: Path) -> np.ndarray:
    """H×W×C from H×W, H×W×C or planar C×H×W (the band axis is the smallest, at most MAX_BANDS)."""
    if arr.ndim == 2:
        return arr[..., None]
    if arr.ndim != 3:
        raise DcnasError(f"{path} holds an array of shape {arr.shape}; expected H×W, H×W×C or C×H×W")
    smallest = int(np.argmin(arr.shape))
    if arr.shape[2] <= MAX_BANDS and arr.shape[2] == arr.shape[smallest]:
        return arr
    if arr.shape[0] <= MAX_BANDS and smallest == 0:
        return np.moveaxis(arr, 0, -1)
    raise DcnasError(f"{path} holds an array of shape {arr.shape}: no axis looks like bands (the first or last "
                     f"axis, the smallest, with at most {MAX_BANDS}); store it as H×W×C or C×H×W")


def _read_tiff(path: Path) -> Tuple[np.ndarray, BandFormat]:
    import tifffile

    try:
        arr = tifffile.imread(path)
    except (tifffile.TiffFileError, OSError, ValueError, KeyError, IndexError) as exc:
        raise DcnasError(f"{path} cannot be read as a TIFF image ({exc})") from None
    arr = _to_hwc(np.asarray(arr), path)
    return arr.astype(np.float32), BandFormat(".tif", _dtype_name(arr.dtype, path), arr.shape[2])


def load_npy(path: Path, what: str = "") -> np.ndarray:
    """A .npy array of numbers (pickles refused), or a DcnasError naming `what` and the file."""
    name = f"{what} {path}" if what else str(path)
    try:
        arr = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise DcnasError(f"{name} cannot be read as a .npy array ({exc})") from None
    if arr.dtype.kind not in "fiub":
        raise DcnasError(f"{name} holds dtype {arr.dtype}; expected numbers")
    return arr


def _read_npy(path: Path) -> Tuple[np.ndarray, BandFormat]:
    arr = load_npy(path)
    if arr.ndim == 2:
        arr = arr[..., None]
    if arr.ndim != 3:
        raise DcnasError(f"{path} holds an array of shape {arr.shape}; expected H×W or H×W×C")
    return arr.astype(np.float32), BandFormat(".npy", "float32", arr.shape[2])


def read_bands(path: os.PathLike | str) -> Tuple[np.ndarray, BandFormat]:
    """Read an image of any band count as float32 H×W×C in the file's units, plus how the file stored it."""
    path = Path(path)
    _exists(path)
    suffix = _suffix(path)
    if suffix == ".png":
        return _read_png(path)
    if suffix == ".tif":
        return _read_tiff(path)
    if suffix == ".npy":
        return _read_npy(path)
    raise DcnasError(f"{path} has suffix {path.suffix!r}; band images are read from {', '.join(BAND_SUFFIXES)} "
                     "(lossy formats such as JPEG corrupt the values)")


def band_info(path: os.PathLike | str) -> BandFormat:
    """How `path` stores its image (band count, sample type); reads the file."""
    return read_bands(path)[1]


def _integer(arr: np.ndarray, dtype: str) -> np.ndarray:
    top = 255 if dtype == "uint8" else 65535
    clean = np.where(np.isfinite(arr), arr, 0.0)
    return np.clip(np.rint(clean), 0, top).astype(np.uint8 if dtype == "uint8" else np.uint16)


def integer_pixels(arr: np.ndarray, dtype: str, path: os.PathLike | str, keep: Tuple[str, ...] = (".tif", ".npy"),
                   clip: bool = False) -> np.ndarray:
    """`arr` rounded to `dtype` (NaN/inf → 0). A value outside the type's range is clipped when `clip` (the
    input was of this type: resampling overshoot), else a DcnasError naming the range and the formats in
    `keep`, which store float32: a float result is never silently clipped."""
    top = 255 if dtype == "uint8" else 65535
    finite = np.asarray(arr)[np.isfinite(arr)]
    if finite.size and not clip:
        lo, hi = float(finite.min()), float(finite.max())
        if np.rint(lo) < 0 or np.rint(hi) > top:
            p = Path(path)
            raise DcnasError(f"{p}: the result spans {lo:.4g}–{hi:.4g}, outside the {_BITS[dtype]}-bit "
                             f"{_container(_suffix(p))} range 0–{top}: writing it would clip it; write "
                             f"{' or '.join(str(p.with_suffix(k)) for k in keep)} (float32, every value kept) instead")
    return _integer(arr, dtype)


def check_bands_output(path: os.PathLike | str, bands: int, fmt: Optional[BandFormat] = None) -> None:
    """DcnasError when `bands` bands of format `fmt` cannot be written to `path` (call it before the work)."""
    path = Path(path)
    suffix = _suffix(path)
    if suffix not in (".png", ".tif", ".npy"):
        raise DcnasError(f"cannot write an image as {path.suffix!r}; use .png (1 or 3 bands), .tif or .npy")
    if suffix != ".png":
        return
    if bands not in (1, 3):
        raise DcnasError(f"{path}: a {bands}-band image cannot be stored as PNG (1 band grey or 3 bands RGB only); "
                         f"write {path.with_suffix('.tif')} or {path.with_suffix('.npy')} instead")
    dtype = fmt.dtype if fmt is not None else ("uint16" if bands == 1 else "uint8")
    if dtype == "float32":
        raise DcnasError(f"the input was float ({fmt.suffix if fmt else 'float'}); writing it to PNG would round it "
                         f"to integers: write {path.with_suffix('.tif')} or .npy instead")
    if bands == 3 and dtype == "uint16":
        raise DcnasError(f"{path}: a 16-bit 3-band image cannot be stored as PNG here (Pillow writes and reads "
                         f"colour PNGs as 8-bit); write {path.with_suffix('.tif')} or .npy instead")


def write_bands(path: os.PathLike | str, arr: np.ndarray, fmt: Optional[BandFormat] = None) -> Path:
    """Write H×W or H×W×C bands atomically as `path`'s suffix says (sample type from `fmt`).

    Defaults without `fmt`: PNG 16-bit grey or 8-bit RGB, TIFF float32; `.npy` is always float32. Integer
    output is clipped to its range only with an integer `fmt` (the input's); without one, values outside it
    are refused (integer_pixels).
    """
    from dcnas_deploy.fileio import atomic_write

    path = Path(path)
    a = np.asarray(arr, dtype=np.float32)
    if a.ndim == 2:
        a = a[..., None]
    if a.ndim != 3 or a.shape[2] < 1:
        raise DcnasError(f"image to write has shape {np.shape(arr)}; expected H×W or H×W×C")
    bands = a.shape[2]
    if fmt is not None and fmt.dtype not in _BITS:
        raise ConfigError(f"unknown sample type {fmt.dtype!r}; known: {sorted(_BITS)}")
    check_bands_output(path, bands, fmt)
    suffix = _suffix(path)
    if suffix == ".npy":
        out_npy = a[..., 0] if bands == 1 else a

        def _save_npy(tmp: str) -> None:
            with open(tmp, "wb") as fh:
                np.save(fh, out_npy)

        return atomic_write(path, _save_npy)
    if suffix == ".tif":
        import tifffile

        dtype = fmt.dtype if fmt is not None else "float32"
        out = a if dtype == "float32" else integer_pixels(a, dtype, path, clip=fmt is not None)
        photometric = "rgb" if bands == 3 else "minisblack"
        data = out[..., 0] if bands == 1 else out

        def _save_tif(tmp: str) -> None:
            tifffile.imwrite(tmp, data, photometric=photometric, planarconfig="contig" if bands > 1 else None)

        return atomic_write(path, _save_tif)
    from PIL import Image

    dtype = fmt.dtype if fmt is not None else ("uint16" if bands == 1 else "uint8")
    px = integer_pixels(a, dtype, path, clip=fmt is not None)
    img = Image.fromarray(px[..., 0] if bands == 1 else px)
    return atomic_write(path, lambda tmp: img.save(tmp, format="PNG"))


def check_bands(arr: np.ndarray, want: int, path: os.PathLike | str, what: str) -> np.ndarray:
    """`arr` as H×W×`want`; DcnasError like 'thermal target must be 1 band; FILE has 3' otherwise."""
    a = np.asarray(arr)
    if a.ndim == 2:
        a = a[..., None]
    if a.ndim != 3:
        raise DcnasError(f"{what} must be an H×W×{want} image; {path} has shape {np.shape(arr)}")
    have = a.shape[2]
    if have != want:
        hint = " (a colour image or a colour-mapped visualisation?)" if want == 1 and have in (3, 4) else ""
        raise DcnasError(f"{what} must be {want} band{'s' if want != 1 else ''}; {path} has {have}{hint}")
    return a


def check_dtype(fmt: BandFormat, want: str, path: os.PathLike | str, what: str) -> None:
    """DcnasError like 'FILE is a 16-bit PNG but this task's data is 8-bit' when the sample types differ."""
    if want not in _BITS:
        raise ConfigError(f"unknown sample type {want!r}; known: {sorted(_BITS)}")
    if fmt.dtype != want:
        raise DcnasError(f"{path} is a {_depth_words(fmt.dtype)} {_container(fmt.suffix)} but {what} is "
                         f"{_depth_words(want)}")
