"""Real images at an exported graph's fixed geometry: check images and (disjoint) calibration crops.

An exported graph has one HR size (H×W). Each dataset image is brought to it like this:
- larger than H×W: cropped (check images: centre crop; calibration: random crops, seeded);
- smaller in either dimension: first upscaled with PIL bicubic, aspect kept, just enough to cover
  H×W (guide channel-wise, depth by `resize.resize_depth`, which keeps holes as holes), then cropped.
Then the published degradation (`degrade.make_triple`: bicubic HR→LR) makes the LR, and LR holes are
filled the way every upsampler does (`holes.fill_holes`). Real LR captures are not used (they cannot be
cropped consistently with the HR).

Check images and calibration images never overlap: splits `val`/`train` when the dataset has them,
otherwise the first images of its test split are check images and the rest calibrate.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from dcnas_deploy.data.sample import Sample, Triple
from dcnas_deploy.errors import ConfigError, DcnasError

HW = Tuple[int, int]


@dataclass
class ExportData:
    """Check triples and calibration triples at one geometry, and how they were made."""

    check: List[Triple]
    calibration: List[Triple]
    protocol: object
    """The dataset's EvalProtocol (task RMSE units)."""
    description: str
    upscaled: List[str] = field(default_factory=list)
    """Names of images that were smaller than the geometry and got upscaled to cover it."""


def fit_to_geometry(sample: Sample, hr_size: HW, rng: Optional[np.random.Generator] = None,
                    upscaled: Optional[List[str]] = None) -> Sample:
    """`sample` cropped to `hr_size` (centre, or random with `rng`), upscaled first if it is smaller."""
    from dcnas_deploy.data.resize import pil_bicubic, resize_depth

    H, W = hr_size
    guide, depth = np.asarray(sample.guide, np.float32), np.asarray(sample.depth_hr, np.float32)
    h0, w0 = depth.shape[:2]
    if h0 < H or w0 < W:
        f = max(H / h0, W / w0)
        size = (max(H, math.ceil(h0 * f)), max(W, math.ceil(w0 * f)))
        guide = np.clip(pil_bicubic(guide, size), 0.0, 1.0)
        depth = resize_depth(depth, size)
        if upscaled is not None:
            upscaled.append(sample.name)
    h, w = depth.shape[:2]
    if rng is None:
        top, left = (h - H) // 2, (w - W) // 2
    else:
        top, left = int(rng.integers(0, h - H + 1)), int(rng.integers(0, w - W + 1))
    crop = (slice(top, top + H), slice(left, left + W))
    return Sample(f"{sample.name}@{top},{left}", np.ascontiguousarray(guide[crop]),
                  np.ascontiguousarray(depth[crop]), None, sample.units, sample.zero_is_hole, sample.degradation)


def to_triple(sample: Sample, scale: int) -> Triple:
    """(lr, guide, hr) by the published degradation; LR holes filled (what every upsampler does)."""
    from dcnas_deploy.data.degrade import make_triple
    from dcnas_deploy.data.holes import fill_holes

    t = make_triple(sample, scale, use_real_lr=False)
    t.lr = fill_holes(t.lr, f"LR of {sample.name}", sample.zero_is_hole)
    return t


def _open_pair(spec: str, hr_size: HW):
    """(check dataset, calibration dataset or None, split note): val/train when available."""
    from dcnas_deploy.data.registry import open_dataset

    kw: Dict[str, Any] = {"size": tuple(hr_size)} if spec.strip() == "synthetic" else {}
    try:
        return open_dataset(spec, "val", **kw), open_dataset(spec, "train", **kw), "val/train splits"
    except ConfigError:
        return open_dataset(spec, "test", **kw), None, "test split, disjoint images"


def load_export_data(spec: str, hr_size: HW, scale: int, n_check: int = 8, n_calib: int = 32,
                     seed: int = 0) -> ExportData:
    """Check and calibration triples from dataset `spec` at HR size `hr_size` and `scale`."""
    if n_check < 1:
        raise ConfigError(f"need at least one check image, got {n_check}")
    H, W = int(hr_size[0]), int(hr_size[1])
    if H % scale or W % scale:
        raise ConfigError(f"HR size {H}x{W} is not a multiple of the scale ×{scale}")
    check_ds, calib_ds, how = _open_pair(spec, (H, W))
    n_total = len(check_ds)
    if calib_ds is None:
        n_check = min(n_check, max(1, n_total - 1)) if n_calib else min(n_check, n_total)
        check_idx: Sequence[int] = range(n_check)
        calib_pool, calib_idx = check_ds, list(range(n_check, n_total))
    else:
        check_idx = range(min(n_check, n_total))
        calib_pool, calib_idx = calib_ds, list(range(len(calib_ds)))
    if n_calib and not calib_idx:
        raise DcnasError(f"dataset {spec!r} has {n_total} image(s): not enough for check images and separate "
                         "calibration images (give a larger dataset or fewer --check-images)")
    upscaled: List[str] = []
    check = [to_triple(fit_to_geometry(check_ds[i], (H, W), None, upscaled), scale) for i in check_idx]
    rng = np.random.default_rng(seed)
    calibration = []
    for k in range(n_calib):
        i = calib_idx[k % len(calib_idx)]
        calibration.append(to_triple(fit_to_geometry(calib_pool[i], (H, W), rng, upscaled), scale))
    n_cal_imgs = min(n_calib, len(calib_idx))
    desc = f"{check_ds.name}: {len(check)} check image(s) (centre {H}×{W} crops)"
    if n_calib:
        desc += f" and {n_calib} calibration crop(s) from {n_cal_imgs} other image(s) ({how})"
    if upscaled:
        desc += f"; {len(set(upscaled))} image(s) smaller than {H}×{W} were upscaled (bicubic) to cover it"
    return ExportData(check, calibration, check_ds.protocol, desc, sorted(set(upscaled)))


def graph_inputs(triple: Triple, nhwc: bool = False) -> Tuple[np.ndarray, np.ndarray]:
    """(lr, guide) as float32 batch-of-one arrays in the graph's layout (NCHW, or NHWC)."""
    return image_to_graph(triple.lr, nhwc), image_to_graph(triple.guide, nhwc)


def image_to_graph(img: np.ndarray, nhwc: bool = False) -> np.ndarray:
    """An H×W or H×W×C image as a contiguous float32 batch of one: 1×C×H×W (NCHW) or 1×H×W×C (NHWC)."""
    a = np.asarray(img, np.float32)
    if a.ndim == 2:
        a = a[:, :, None]
    return np.ascontiguousarray(a[None] if nhwc else a.transpose(2, 0, 1)[None])


def graph_output_to_image(out: np.ndarray, nhwc: Optional[bool] = None) -> np.ndarray:
    """A 1×C×H×W or 1×H×W×C output as an H×W (C = 1) or H×W×C float32 image.

    `nhwc` says the layout; None guesses it (the smaller of axes 1 and 3 holds the bands).
    """
    arr = np.asarray(out, dtype=np.float32)
    if arr.ndim != 4 or arr.shape[0] != 1:
        raise DcnasError(f"model output has shape {arr.shape}; expected 1×C×H×W or 1×H×W×C")
    if nhwc is None:
        nhwc = arr.shape[3] < arr.shape[1]
    img = arr[0] if nhwc else arr[0].transpose(1, 2, 0)
    return img[..., 0] if img.shape[2] == 1 else img
