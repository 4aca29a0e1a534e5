"""Any folder of RGB-D pairs matched by file stem: the user's own data.

Layout: ``PATH/depth/NAME.{png,npy,pfm,tif}`` + ``PATH/rgb/NAME.{png,jpg,...}`` (folder names are
case-insensitive; also accepted: gt/hr for depth, color/colour/image/images/guide for the guide), with an
optional ``PATH/lr/NAME.*`` holding real low-resolution captures. A flat folder of
``NAME_depth.*`` + ``NAME_color.*`` files works too. If ``PATH/<split>/`` exists it is used for that
split; otherwise the whole folder is the `test`/`all` split. Depth stays in the files' units and is
scored with the `raw` protocol unless a protocol is given (``--protocol nyu`` for metres, ...).
"""
from __future__ import annotations

from typing import Optional

from dcnas_deploy.data.io import DEPTH_SUFFIXES, GUIDE_SUFFIXES
from dcnas_deploy.data.pairing import files_with, pair_by_stem, pair_by_token, subdir
from dcnas_deploy.data.registry import (Dataset, FilePairDataset, PairFiles, check_split, register_dataset,
                                        reject_unknown, require_path)
from dcnas_deploy.errors import ConfigError, DcnasError

DEPTH_DIRS = ("depth", "depths", "gt", "hr")
GUIDE_DIRS = ("rgb", "color", "colour", "image", "images", "guide")
LAYOUT = ("PATH/depth/NAME.{png,npy,pfm,tif} + PATH/rgb/NAME.{png,jpg} [+ PATH/lr/NAME.*], "
          "or a flat folder of NAME_depth.* + NAME_color.*")


@register_dataset("folder", "folder:PATH (depth/NAME.* + rgb/NAME.* matched by stem [+ lr/NAME.*]; raw units)")
def open_folder(path: Optional[str], split: str = "test", **kw) -> Dataset:
    """Pairs from a folder of the user's own files."""
    reject_unknown("folder", kw)
    check_split(split)
    root = require_path(path, "folder", LAYOUT)
    if (root / split).is_dir():
        root = root / split
    elif split in ("train", "val"):
        raise ConfigError(f"folder {root} has no '{split}' subfolder; without one the folder is the test set")
    ddir, gdir = subdir(root, DEPTH_DIRS), subdir(root, GUIDE_DIRS)
    if ddir is not None and gdir is not None:
        depths = files_with(ddir, DEPTH_SUFFIXES)
        if not depths:
            raise DcnasError(f"no depth files ({', '.join(DEPTH_SUFFIXES)}) in {ddir}; expected {LAYOUT}")
        pairs = pair_by_stem(depths, files_with(gdir, GUIDE_SUFFIXES), root, gdir)
        lrdir = subdir(root, ("lr",))
        lrs = {p.stem: p for p in files_with(lrdir, DEPTH_SUFFIXES)} if lrdir is not None else {}
        files = [PairFiles(stem, d, g, lrs.get(stem)) for stem, d, g in pairs]
    else:
        files = [PairFiles(name, d, g) for name, d, g in pair_by_token(root)]
        if not files:
            raise DcnasError(f"no RGB-D pairs found in {root}; expected {LAYOUT}")
    return FilePairDataset("folder", files, protocol="raw", split=split, units="")
