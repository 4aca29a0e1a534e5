"""RGB-D-D (He et al., CVPR 2021): 16-bit PNG depth in mm + JPEG colour, with real phone-ToF LR depth.

Layouts: the official release, ``<category>/<category>_{train,test}/<NAME>/NAME_RGB.jpg``,
``NAME_HR_gt.png`` and ``NAME_LR_fill_depth.png``; and the flat public test copies,
``Depth/NAME_HR_gt.png`` + ``RGB/NAME_RGB.jpg`` [+ ``DepthLR/NAME_LR_fill_depth.png``]. The split is the
``*_train``/``*_test`` folder a pair sits in; a pair outside any such folder is a test pair (the flat
copies are test sets). Scored with the RGB-D-D protocol (mm → cm, no crop, as in the DCNAS authors' code).
"""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

from dcnas_deploy.data.pairing import files_with, subdir
from dcnas_deploy.data.registry import (Dataset, FilePairDataset, PairFiles, check_split, register_dataset,
                                        reject_unknown, require_path)
from dcnas_deploy.errors import ConfigError, DcnasError

HR_SUFFIX = "_HR_gt"
RGB_SUFFIX = "_RGB"
LR_SUFFIX = "_LR_fill_depth"
LAYOUT = ("<category>/<category>_train|_test/NAME/NAME_HR_gt.png (16-bit, mm) + NAME_RGB.jpg "
          "[+ NAME_LR_fill_depth.png, the real LR], or flat Depth/NAME_HR_gt.png + RGB/NAME_RGB.jpg "
          "[+ DepthLR/NAME_LR_fill_depth.png]")
RGB_DIRS = ("RGB", "rgb", "color", "colour", "image")
LR_DIRS = ("DepthLR", "depth_lr", "LR", "lr")
TEST_SIZE = 405
"""Pairs in the published RGB-D-D test split."""


def _split_of(path: Path, root: Path) -> Optional[str]:
    for part in path.relative_to(root).parts[:-1]:
        low = part.lower()
        if low.endswith("_train") or low == "train":
            return "train"
        if low.endswith("_test") or low == "test":
            return "test"
    return None


def _partner(gt: Path, filename_stem: str, suffixes, dirs) -> Optional[Path]:
    """NAME's partner file beside the ground truth, or in a sibling folder (flat layout: RGB/, DepthLR/)."""
    folders = [gt.parent] + [d for d in (subdir(gt.parent.parent, (n,)) for n in dirs) if d is not None]
    for folder in folders:
        for s in suffixes:
            if (folder / (filename_stem + s)).is_file():
                return folder / (filename_stem + s)
    return None


@register_dataset("rgbdd", "rgbdd:PATH (RGB-D-D: *_HR_gt.png mm + *_RGB.jpg [+ real *_LR_fill_depth.png]; cm)",
                  published={"test": TEST_SIZE})
def open_rgbdd(path: Optional[str], split: str = "test", real_lr: bool = True, **kw) -> Dataset:
    """RGB-D-D pairs; the real LR is attached to each sample unless real_lr=False."""
    reject_unknown("rgbdd", kw, ("real_lr",))
    check_split(split, ("train", "test", "all"))
    root = require_path(path, "rgbdd", LAYOUT)
    gts = files_with(root, (".png",), recursive=True)
    gts = [p for p in gts if p.stem.endswith(HR_SUFFIX)]
    if not gts:
        raise DcnasError(f"no *{HR_SUFFIX}.png files under {root}; expected {LAYOUT}")
    files: List[PairFiles] = []
    for gt in gts:
        where = _split_of(gt, root) or "test"
        if split != "all" and where != split:
            continue
        name = gt.stem[: -len(HR_SUFFIX)]
        rgb = _partner(gt, name + RGB_SUFFIX, (".jpg", ".png", ".jpeg"), RGB_DIRS)
        if rgb is None:
            raise DcnasError(f"RGB-D-D pair {name}: expected colour image {gt.with_name(name + RGB_SUFFIX + '.jpg')} "
                             f"(or {name + RGB_SUFFIX}.jpg in a sibling RGB/ folder)")
        lr = _partner(gt, name + LR_SUFFIX, (".png",), LR_DIRS) if real_lr else None
        files.append(PairFiles(name, gt, rgb, lr))
    if not files and split != "all":
        raise ConfigError(f"no RGB-D-D pairs in split {split!r} under {root}: the split is taken from folders "
                          f"named *_{split} (pairs outside such folders are test pairs); use split 'all' to take "
                          f"every pair")
    return FilePairDataset("rgbdd", files, protocol="rgbdd", split=split, units="mm")
