"""NYU Depth v2 (1449 labeled pairs, depth in metres) from the labeled .mat or per-image .npy + .jpg files.

Splits follow the paper (first 1000 pairs train, last 449 test); we hold out the last 100 training
pairs as `val`: train = 0–899, val = 900–999, trainval = 0–999, test = 1000–1448, all = 0–1448.
Scored with the NYU protocol: 6-px border crop, metres → cm.
"""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import numpy as np

from dcnas_deploy.data.io import GUIDE_SUFFIXES
from dcnas_deploy.data.pairing import files_with, pair_by_stem, subdir
from dcnas_deploy.data.protocols import get_protocol
from dcnas_deploy.data.registry import (Dataset, FilePairDataset, PairFiles, check_split, register_dataset,
                                        reject_unknown, require_path)
from dcnas_deploy.data.sample import Sample
from dcnas_deploy.errors import DcnasError, require

MAT_NAME = "nyu_depth_v2_labeled.mat"
NYU_SPLITS = {"train": (0, 900), "val": (900, 1000), "trainval": (0, 1000), "test": (1000, 1449), "all": (0, 1449)}
LAYOUT = (f"either {MAT_NAME} (MATLAB v7.3, datasets 'images' N×3×W×H uint8 and 'depths' N×W×H metres), "
          "or Depth/<index>.npy (metres, H×W) + RGB/<index>.jpg")


def _in_split(index: int, split: str) -> bool:
    lo, hi = NYU_SPLITS[split]
    return lo <= index < hi


class NyuMatDataset(Dataset):
    """Pairs read lazily from the labeled .mat through h5py (MATLAB stores them transposed)."""

    def __init__(self, mat: Path, split: str):
        h5py = require("h5py", "data")
        self.path, self.split, self.name = mat, split, "nyu"
        self.protocol = get_protocol("nyu")
        try:
            with h5py.File(mat, "r") as f:
                missing = [k for k in ("images", "depths") if k not in f]
                if missing:
                    raise DcnasError(f"{mat} has no dataset(s) {missing}; expected {LAYOUT}")
                n, n_img = f["depths"].shape[0], f["images"].shape[0]
                if f["images"].ndim != 4 or f["images"].shape[1] != 3 or f["depths"].ndim != 3:
                    raise DcnasError(f"{mat}: 'images' {f['images'].shape} / 'depths' {f['depths'].shape} do not "
                                     f"look like NYU; expected {LAYOUT}")
        except OSError as exc:
            raise DcnasError(f"cannot open {mat} with h5py ({exc}); expected {LAYOUT}") from None
        if n != n_img:
            raise DcnasError(f"{mat} has {n_img} images but {n} depth maps")
        self.indices = [i for i in range(n) if _in_split(i, split)]

    def __len__(self) -> int:
        return len(self.indices)

    def load(self, index: int) -> Sample:
        h5py = require("h5py", "data")
        i = self.indices[index]
        with h5py.File(self.path, "r") as f:
            depth = np.ascontiguousarray(np.asarray(f["depths"][i], dtype=np.float32).T)
            rgb = np.ascontiguousarray(np.asarray(f["images"][i]).transpose(2, 1, 0))
        guide = rgb.astype(np.float32) / np.float32(255.0)
        return Sample(f"nyu_{i:04d}", guide, depth, None, "m")


def _per_image(root: Path, split: str) -> Dataset:
    ddir = subdir(root, ("Depth", "depths"))
    gdir = subdir(root, ("RGB", "image", "images", "color"))
    if ddir is None or gdir is None:
        raise DcnasError(f"no NYU data in {root}: expected {LAYOUT}")
    depths = files_with(ddir, (".npy",))
    if not depths:
        raise DcnasError(f"no .npy depth files in {ddir}; expected {LAYOUT}")
    pairs = pair_by_stem(depths, files_with(gdir, GUIDE_SUFFIXES), root, gdir)
    files: List[PairFiles] = []
    for stem, d, g in pairs:
        if split != "all":
            if not stem.isdigit():
                raise DcnasError(f"NYU split {split!r} is chosen by image index, but {d.name} has no numeric "
                                 "stem; name files <index>.npy/<index>.jpg or use split 'all'")
            if not _in_split(int(stem), split):
                continue
        files.append(PairFiles(f"nyu_{int(stem):04d}" if stem.isdigit() else stem, d, g))
    files.sort(key=lambda p: p.name)
    return FilePairDataset("nyu", files, protocol="nyu", split=split, units="m")


@register_dataset("nyu", "nyu:PATH (NYU v2 labeled .mat, or Depth/*.npy metres + RGB/*.jpg; 6-px crop, cm)",
                  published={"test": NYU_SPLITS["test"][1] - NYU_SPLITS["test"][0]})
def open_nyu(path: Optional[str], split: str = "test", **kw) -> Dataset:
    """NYU v2 from the labeled .mat (file or its folder) or the per-image .npy + .jpg layout."""
    reject_unknown("nyu", kw)
    check_split(split, tuple(NYU_SPLITS))
    root = require_path(path, "nyu", LAYOUT)
    if root.is_file():
        if root.suffix.lower() != ".mat":
            raise DcnasError(f"nyu:{root} is a file but not a .mat; expected {LAYOUT}")
        return NyuMatDataset(root, split)
    if (root / MAT_NAME).is_file():
        return NyuMatDataset(root / MAT_NAME, split)
    return _per_image(root, split)
