"""Pan-sharpening data on disk: PanCollection HDF5 files (``pancollection:``) and GeoTIFF pairs (``geotiff:``).

Samples follow the pan-sharpening convention: the target is H×W×C float32 digital numbers (DN) at the
PAN's resolution, the guide the PAN scaled to [0, 1] by the sensor maximum (H×W×1), ``zero_is_hole`` False.
When the file holds the low-resolution MS it is the sample's real LR input (``depth_lr``, h×w×C DN).

Reduced-resolution data (a reference MS at the PAN's resolution exists) has ``full_resolution = False``.
Full-resolution data has no reference: the sample's target is then the MS upsampled to the PAN's size
(PanCollection's ``lms``, or PIL bicubic for GeoTIFF pairs), only a stand-in for shapes, and the dataset has
``full_resolution = True``: score it with no-reference metrics only (QNR-style), never against the target.

Options may be given as keywords or appended to the path: ``pancollection:test_wv3.h5,max=2047``,
``geotiff:scenes/,bits=10``.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Dict, List, NamedTuple, Optional, Sequence, Tuple

import numpy as np

from dcnas_deploy.data.protocols import get_protocol
from dcnas_deploy.data.registry import Dataset, check_split, register_dataset, reject_unknown, require_path
from dcnas_deploy.data.sample import Sample
from dcnas_deploy.errors import ConfigError, DcnasError, require

F32 = np.float32
H5_SUFFIXES = (".h5", ".hdf5")
TIFF_SUFFIXES = (".tif", ".tiff")
PANCOLLECTION_LAYOUT = ("an HDF5 file with datasets 'pan' N×1×H×W, 'ms' N×C×h×w (H = scale·h, W = scale·w), "
                        "'lms' N×C×H×W and, for reduced-resolution data, 'gt' N×C×H×W; values in DN")
GEOTIFF_LAYOUT = ("a folder of NAME_ms.tif (C ≥ 3 bands, at the PAN's size or an integer fraction of it) + "
                  "NAME_pan.tif (1 band) pairs [in PATH/<split>/ when split folders exist]")
_PAIR_TAG = re.compile(r"^(.+)[_-](ms|pan)$", re.IGNORECASE)


def _path_options(rest: Optional[str], prefix: str, keys: Sequence[str]) -> Tuple[Optional[str], Dict[str, int]]:
    """'PATH,key=1' → (PATH, {key: 1}); trailing ',key=value' parts with known keys are options."""
    if not rest:
        return rest, {}
    parts = rest.split(",")
    opts: Dict[str, int] = {}
    while len(parts) > 1:
        key, sep, val = parts[-1].partition("=")
        if not sep or key.strip() not in keys:
            break
        try:
            opts[key.strip()] = int(val)
        except ValueError:
            raise ConfigError(f"bad {prefix} option {parts[-1]!r}: expected an integer, e.g. "
                              f"{prefix}:PATH,{keys[0]}=2047") from None
        parts.pop()
    return ",".join(parts), opts


def _units(max_dn: int) -> str:
    bits = (int(max_dn) + 1).bit_length() - 1
    return f"DN ({bits}-bit)" if 2 ** bits == int(max_dn) + 1 else f"DN (0-{int(max_dn)})"


def _scale_of(pan_hw: Tuple[int, int], ms_hw: Tuple[int, int], where: str, allow_same: bool) -> int:
    """Integer PAN/MS size ratio, equal in both axes (DcnasError naming `where` and the shapes otherwise)."""
    (ph, pw), (mh, mw) = pan_hw, ms_hw
    ok = mh > 0 and mw > 0 and ph % mh == 0 and pw % mw == 0 and ph // mh == pw // mw
    scale = ph // mh if ok else 0
    if not ok or scale < (1 if allow_same else 2):
        raise DcnasError(f"{where}: the PAN is {ph}×{pw} and the MS {mh}×{mw}; the PAN must be an integer multiple "
                         f"{'(1 or more)' if allow_same else '(2 or more)'} of the MS size, the same in both axes")
    return scale


def _scale_mismatch(where: str, ratio: int, scale: int, full_resolution: bool) -> None:
    """DcnasError: the files' PAN is `ratio`× their real MS, and ×`scale` was asked (the MS would be resampled)."""
    other = "" if full_resolution else f", or --synthetic-lr to degrade the reference MS by ×{scale} instead"
    raise DcnasError(f"{where}: the PAN is {ratio}× the size of the real MS (PAN/MS ratio {ratio}), but ×{scale} was "
                     f"asked (ratio {scale}): the real MS would be resampled and scored as if it were ×{scale}; "
                     f"give --scale {ratio}{other}")


def _check_range(arr: np.ndarray, max_dn: int, where: str, option: str, overflow: bool = False) -> None:
    """DcnasError when `arr` holds values above `max_dn` (`overflow`: integer samples beyond the bit depth)."""
    top = float(np.max(arr)) if arr.size else 0.0
    if top > max_dn:
        head = "16-bit overflow: " if overflow else ""
        raise DcnasError(f"{head}values up to {top:g} in {where} exceed {_units(max_dn)[4:-1]} ({max_dn}); "
                         f"give the sensor's range ({option})")


# --------------------------------------------------------------------------------------------
# PanCollection HDF5
# --------------------------------------------------------------------------------------------

class PanCollectionDataset(Dataset):
    """Samples of a PanCollection-style HDF5 file (every sample of the file is in the requested split)."""

    name = "pancollection"
    task = "pansharpening"

    def __init__(self, path: Path, split: str = "test", max_value: int = 2047):
        h5py = require("h5py", "data")
        self.path, self.split = path, check_split(split)
        if int(max_value) < 1:
            raise ConfigError(f"pancollection max must be ≥ 1 (the sensor's largest DN), got {max_value}")
        self.max_dn = int(max_value)
        self.units = _units(self.max_dn)
        self.protocol = get_protocol("pansharpening")
        try:
            with h5py.File(path, "r") as f:
                groups = [k for k in ("gt", "ms", "lms", "pan") if k in f and not isinstance(f[k], h5py.Dataset)]
                shapes = {k: tuple(f[k].shape) for k in ("gt", "ms", "lms", "pan") if k in f and k not in groups}
                keys = sorted(f.keys())
        except OSError as exc:
            raise DcnasError(f"cannot open {path} as HDF5 ({exc}); expected {PANCOLLECTION_LAYOUT}") from None
        if groups:
            raise DcnasError(f"{path}: '{groups[0]}' is an HDF5 group (a folder), not a "
                             f"dataset (an array); expected {PANCOLLECTION_LAYOUT}")
        missing = [k for k in ("pan", "ms") if k not in shapes]
        if "gt" not in shapes and "lms" not in shapes:
            missing.append("gt or lms")
        if missing:
            raise DcnasError(f"{path} has no dataset(s) {missing} (it has {keys}); expected {PANCOLLECTION_LAYOUT}")
        for k, s in shapes.items():
            if len(s) != 4:
                raise DcnasError(f"{path}: dataset '{k}' has shape {s}, expected 4 axes N×C×H×W")
        counts = {k: s[0] for k, s in shapes.items()}
        if len(set(counts.values())) != 1:
            raise DcnasError(f"{path}: the datasets hold different sample counts {counts}; they must be equal")
        if shapes["pan"][1] != 1:
            raise DcnasError(f"{path}: 'pan' has {shapes['pan'][1]} bands (shape {shapes['pan']}); expected 1")
        bands = {k: s[1] for k, s in shapes.items() if k != "pan"}
        if len(set(bands.values())) != 1:
            raise DcnasError(f"{path}: the MS datasets have different band counts {bands}; they must be equal")
        pan_hw = shapes["pan"][2:]
        self.scale = _scale_of(pan_hw, shapes["ms"][2:], f"{path} ('pan' {shapes['pan']}, 'ms' {shapes['ms']})",
                               allow_same=False)
        for k in ("gt", "lms"):
            if k in shapes and shapes[k][2:] != pan_hw:
                raise DcnasError(f"{path}: '{k}' is {shapes[k][2]}×{shapes[k][3]} (shape {shapes[k]}) but 'pan' is "
                                 f"{pan_hw[0]}×{pan_hw[1]}; they must match")
        self.n, self.bands = counts["pan"], bands["ms"]
        self.full_resolution = "gt" not in shapes
        self.name = f"pancollection:{path.name}"
        if self.full_resolution:
            self.notes = [f"{path.name} is full-resolution data (no 'gt'): targets are the upsampled MS ('lms'); "
                          "score it with no-reference metrics only"]

    def __len__(self) -> int:
        return self.n

    def check_scale(self, scale: int) -> None:
        """DcnasError naming the file and a sample when its real MS is at another ratio than ×`scale`."""
        if scale != self.scale:
            _scale_mismatch(f"{self.path} sample 0 ({self.path.stem}_00000; all {self.n} samples alike)",
                            self.scale, scale, self.full_resolution)

    @property
    def has_real_lr(self) -> bool:
        """True: the file's 'ms' is the LR input."""
        return True

    def load(self, index: int) -> Sample:
        h5py = require("h5py", "data")
        with h5py.File(self.path, "r") as f:
            pan = np.asarray(f["pan"][index], dtype=F32)[0]
            ms = np.asarray(f["ms"][index], dtype=F32).transpose(1, 2, 0)
            target = np.asarray(f["lms" if self.full_resolution else "gt"][index], dtype=F32).transpose(1, 2, 0)
        where = f"{self.path} sample {index}"
        _check_range(pan, self.max_dn, f"{where} 'pan'", "pancollection option max=…")
        _check_range(ms, self.max_dn, f"{where} 'ms'", "pancollection option max=…")
        if not self.full_resolution:
            _check_range(target, self.max_dn, f"{where} 'gt'", "pancollection option max=…")
        guide = (np.clip(pan, 0, None) / F32(self.max_dn))[..., None]
        return Sample(f"{self.path.stem}_{index:05d}", guide, np.ascontiguousarray(target), np.ascontiguousarray(ms),
                      self.units, zero_is_hole=False)


def _check_pancollection(rest: Optional[str]) -> None:
    path, _ = _path_options(rest, "pancollection", ("max",))
    if not path:
        raise ConfigError(f"dataset spec 'pancollection' needs a path: pancollection:PATH.h5 ({PANCOLLECTION_LAYOUT})")


@register_dataset("pancollection", "pancollection:PATH.h5[,max=2047] (PanCollection HDF5: gt/ms/lms/pan; DN, "
                  "max 2047 WV/QB, 1023 GF2)", check=_check_pancollection, task="pansharpening")
def open_pancollection(path: Optional[str], split: str = "test", **kw: Any) -> Dataset:
    """A PanCollection-style HDF5 file; `max` is the sensor's largest DN (2047 WorldView/QuickBird, 1023 Gaofen-2)."""
    file, opts = _path_options(path, "pancollection", ("max",))
    reject_unknown("pancollection", kw, ("max",))
    opts.update(kw)
    p = require_path(file, "pancollection", PANCOLLECTION_LAYOUT)
    if p.is_dir() or p.suffix.lower() not in H5_SUFFIXES:
        raise DcnasError(f"pancollection:{p} is not an .h5 file; expected {PANCOLLECTION_LAYOUT}")
    return PanCollectionDataset(p, split, int(opts.get("max", 2047)))


# --------------------------------------------------------------------------------------------
# GeoTIFF pairs
# --------------------------------------------------------------------------------------------

class TiffPair(NamedTuple):
    """One MS/PAN pair of files and their image sizes (from the TIFF headers)."""

    name: str
    ms: Path
    pan: Path
    ms_shape: Tuple[int, int, int]
    pan_shape: Tuple[int, int]


def _tiff_shape(path: Path) -> Tuple[int, int, int]:
    """(H, W, C) of a TIFF from its header (bands on the smallest of the first/last axes, as data.bands reads)."""
    import tifffile

    try:
        with tifffile.TiffFile(path) as tf:
            shape = tuple(int(x) for x in tf.series[0].shape)
    except (tifffile.TiffFileError, OSError, ValueError, KeyError, IndexError) as exc:
        raise DcnasError(f"{path} cannot be read as a TIFF image ({exc})") from None
    if len(shape) == 2:
        return shape[0], shape[1], 1
    if len(shape) == 3:
        if shape[2] <= shape[0] and shape[2] <= shape[1]:
            return shape[0], shape[1], shape[2]
        if shape[0] <= shape[1] and shape[0] <= shape[2]:
            return shape[1], shape[2], shape[0]
    raise DcnasError(f"{path} holds an image of shape {shape}; expected H×W, H×W×C or C×H×W")


def _tiff_pairs(root: Path) -> List[TiffPair]:
    files = sorted(p for p in root.iterdir() if p.is_file() and p.suffix.lower() in TIFF_SUFFIXES)
    found: Dict[str, Dict[str, Path]] = {}
    for p in files:
        m = _PAIR_TAG.match(p.stem)
        if m:
            found.setdefault(m.group(1), {})[m.group(2).lower()] = p
    if not found:
        raise DcnasError(f"no NAME_ms.tif / NAME_pan.tif files in {root}; expected {GEOTIFF_LAYOUT}")
    lonely = [f"{next(iter(d.values())).name} (no NAME_{'pan' if 'ms' in d else 'ms'}.tif)"
              for d in found.values() if len(d) < 2]
    if lonely:
        raise DcnasError(f"{len(lonely)} file(s) in {root} have no partner: {'; '.join(lonely[:3])}"
                         f"{' …' if len(lonely) > 3 else ''}")
    pairs = []
    for name in sorted(found):
        ms, pan = found[name]["ms"], found[name]["pan"]
        mshape, pshape = _tiff_shape(ms), _tiff_shape(pan)
        if pshape[2] != 1:
            raise DcnasError(f"PAN image {pan} has {pshape[2]} bands; expected 1")
        if mshape[2] < 3:
            raise DcnasError(f"MS image {ms} has {mshape[2]} band(s); expected 3 or more (is it a PAN image?)")
        pairs.append(TiffPair(name, ms, pan, mshape, pshape[:2]))
    return pairs


class GeoTiffPanDataset(Dataset):
    """MS + PAN GeoTIFF pairs (read with tifffile; georeferencing tags are ignored)."""

    name = "geotiff"
    task = "pansharpening"

    def __init__(self, root: Path, split: str = "test", bits: int = 11):
        if isinstance(bits, bool) or not 1 <= int(bits) <= 16:
            raise ConfigError(f"geotiff bits must be the sensor's bit depth, 1–16, got {bits!r}")
        self.root, self.split, self.bits = root, split, int(bits)
        self.max_dn = 2 ** self.bits - 1
        self.units = _units(self.max_dn)
        self.protocol = get_protocol("pansharpening")
        self.pairs = _tiff_pairs(root)
        first = self.pairs[0]
        scales = {}
        for p in self.pairs:
            if p.ms_shape[2] != first.ms_shape[2]:
                raise DcnasError(f"MS images have different band counts: {first.ms} has {first.ms_shape[2]}, "
                                 f"{p.ms} has {p.ms_shape[2]}; every MS image of a dataset needs the same bands")
            scales[p.name] = _scale_of(p.pan_shape, p.ms_shape[:2], f"{p.pan.name} / {p.ms.name} in {root}",
                                       allow_same=True)
        if len(set(scales.values())) != 1:
            raise DcnasError(f"pairs in {root} have different PAN/MS size ratios {scales}; use one ratio per folder")
        self.scale, self.bands = scales[first.name], first.ms_shape[2]
        self.full_resolution = self.scale > 1
        if self.full_resolution:
            self.notes = [f"{root}: MS at 1/{self.scale} of the PAN (full-resolution data, no reference): targets are "
                          "the bicubic-upsampled MS; score with no-reference metrics only"]

    def __len__(self) -> int:
        return len(self.pairs)

    def check_scale(self, scale: int) -> None:
        """DcnasError naming the files of a sample when their real MS is at another ratio than ×`scale`."""
        p = self.pairs[0]
        if self.full_resolution and scale != self.scale:
            _scale_mismatch(f"{p.pan} / {p.ms} (sample {p.name!r}, and all {len(self.pairs)} pairs in {self.root})",
                            self.scale, scale, True)

    @property
    def has_real_lr(self) -> bool:
        """True when the MS files are at a lower resolution than the PAN (they are the LR input)."""
        return self.full_resolution

    def load(self, index: int) -> Sample:
        from dcnas_deploy.data.bands import read_bands
        from dcnas_deploy.data.resize import bicubic_up

        p = self.pairs[index]
        ms, fmt_ms = read_bands(p.ms)
        pan, fmt_pan = read_bands(p.pan)
        if ms.shape != p.ms_shape or pan.shape[:2] != p.pan_shape:
            raise DcnasError(f"{p.ms} / {p.pan} read as {ms.shape} / {pan.shape}, their headers said "
                             f"{p.ms_shape} / {p.pan_shape}")
        option = f"geotiff option bits=… (now {self.bits})"
        _check_range(ms, self.max_dn, str(p.ms), option, overflow=fmt_ms.dtype == "uint16")
        _check_range(pan, self.max_dn, str(p.pan), option, overflow=fmt_pan.dtype == "uint16")
        guide = np.clip(pan, 0, None) / F32(self.max_dn)
        if self.full_resolution:
            return Sample(p.name, guide, bicubic_up(ms, self.scale), ms, self.units, zero_is_hole=False)
        return Sample(p.name, guide, ms, None, self.units, zero_is_hole=False,
                      degradation=f"mtf:{'gaofen2' if self.bits == 10 else 'worldview'}")


def _check_geotiff(rest: Optional[str]) -> None:
    path, _ = _path_options(rest, "geotiff", ("bits",))
    if not path:
        raise ConfigError(f"dataset spec 'geotiff' needs a path: geotiff:PATH ({GEOTIFF_LAYOUT})")


@register_dataset("geotiff", "geotiff:PATH[,bits=11] (folder of NAME_ms.tif + NAME_pan.tif pan-sharpening pairs; DN)",
                  check=_check_geotiff, task="pansharpening")
def open_geotiff(path: Optional[str], split: str = "test", **kw: Any) -> Dataset:
    """A folder of MS/PAN GeoTIFF pairs; `bits` is the sensor's bit depth (11 WorldView/QuickBird, 10 Gaofen-2)."""
    folder, opts = _path_options(path, "geotiff", ("bits",))
    reject_unknown("geotiff", kw, ("bits",))
    opts.update(kw)
    check_split(split)
    root = require_path(folder, "geotiff", GEOTIFF_LAYOUT)
    if not root.is_dir():
        raise DcnasError(f"geotiff:{root} is not a folder; expected {GEOTIFF_LAYOUT}")
    if (root / split).is_dir():
        root = root / split
    elif split in ("train", "val"):
        raise ConfigError(f"geotiff folder {root} has no '{split}' subfolder; without one the folder is the test set")
    return GeoTiffPanDataset(root, split, int(opts.get("bits", 11)))
