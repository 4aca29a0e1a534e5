"""PBVS thermal image SR challenge, guided track (×8): 8-bit thermal images + registered visible guides.

Layouts (folder names case-insensitive):

* by split, ``PATH/{train,validation}/`` (also ``val``/``valid``), each holding either two folders,
  thermal (``thermal``, ``th``, ``ir``, ``lwir``) and visible (``visible``, ``vis``, ``rgb``, ``guide``),
  or a flat folder of ``NAME_th.*`` + ``NAME_vis.*`` files (also ``_thermal``/``_ir`` and ``_visible``/``_rgb``);
* by modality, as the challenge publishes it: ``PATH/thermal/{train,val}/GT/`` + ``PATH/visible/{train,val}/``
  (a thermal split folder without ``GT``/``HR`` inside holds the images directly).

Thermal and visible files are paired by stem (a ``_th``/``_vis`` style suffix removed). The thermal images'
``LR_x8`` folders are not used: LR inputs are made from the ground truth by the task's degradation. The
challenge's test folder has no thermal ground truth, so, as in the paper, split ``test`` is the validation
folder; ``val`` is 100 pairs drawn from train with a fixed seed and ``train`` the rest of train; ``all`` is
train and validation. Thermal files must be 8-bit grey (the task's 0–255 protocol); the visible image must
be RGB at the thermal image's size.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np

from dcnas_deploy.data.gray8 import GRAY8_SUFFIXES, read_gray8
from dcnas_deploy.data.io import GUIDE_SUFFIXES, read_guide
from dcnas_deploy.data.pairing import files_with, subdir
from dcnas_deploy.data.registry import (Dataset, FilePairDataset, PairFiles, check_split, register_dataset,
                                        reject_unknown, require_path)
from dcnas_deploy.data.sample import Sample
from dcnas_deploy.errors import ConfigError, DcnasError

THERMAL_DIRS = ("thermal", "th", "ir", "lwir")
VISIBLE_DIRS = ("visible", "vis", "rgb", "guide")
GT_DIRS = ("GT", "HR", "gt", "hr")
SPLIT_DIRS = {"train": ("train", "training"), "validation": ("validation", "val", "valid")}
THERMAL_TAG = re.compile(r"^(.+?)[_-](th|thermal|ir|lwir)$", re.IGNORECASE)
VISIBLE_TAG = re.compile(r"^(.+?)[_-](vis|visible|rgb)$", re.IGNORECASE)
VAL_PAIRS = 100
VAL_SEED = 2024
LAYOUT = ("PATH/{train,validation}/{thermal,visible}/NAME.png (or flat NAME_th.png + NAME_vis.png), or the "
          "published PATH/thermal/{train,val}/GT/NAME.* + PATH/visible/{train,val}/NAME.*")


def _key(path: Path, tag: re.Pattern) -> str:
    m = tag.match(path.stem)
    return m.group(1) if m else path.stem


def _thermal_folder(folder: Path) -> Path:
    """The ground-truth folder inside a thermal split folder (GT/ or HR/ when present)."""
    return subdir(folder, GT_DIRS) or folder


def _pair(thermal: List[Path], visible: List[Path], where: Path) -> List[PairFiles]:
    """Pairs by stem; every thermal file needs a visible partner (extra visible files are ignored)."""
    guides: Dict[str, Path] = {}
    for v in visible:
        guides.setdefault(_key(v, VISIBLE_TAG), v)
    pairs, missing = [], []
    for t in thermal:
        key = _key(t, THERMAL_TAG)
        if key in guides:
            pairs.append(PairFiles(key, t, guides[key]))
        else:
            missing.append(t.name)
    if missing:
        more = f" (and {len(missing) - 3} more)" if len(missing) > 3 else ""
        raise DcnasError(f"{len(missing)} thermal image(s) in {where} have no visible image with the same stem: "
                         f"{', '.join(missing[:3])}{more}; expected {LAYOUT}")
    return pairs


def _split_pairs(root: Path, which: str) -> List[PairFiles]:
    """The pairs of the 'train' or 'validation' folder, in any supported layout."""
    folder = subdir(root, SPLIT_DIRS[which])
    if folder is not None:
        tdir, vdir = subdir(folder, THERMAL_DIRS), subdir(folder, VISIBLE_DIRS)
        if tdir is not None and vdir is not None:
            return _pair(files_with(_thermal_folder(tdir), GRAY8_SUFFIXES), files_with(vdir, GUIDE_SUFFIXES), folder)
        files = files_with(folder, GRAY8_SUFFIXES)
        thermal = [f for f in files if THERMAL_TAG.match(f.stem)]
        return _pair(thermal, [f for f in files if VISIBLE_TAG.match(f.stem)], folder)
    tdir, vdir = subdir(root, THERMAL_DIRS), subdir(root, VISIBLE_DIRS)
    tsplit = subdir(tdir, SPLIT_DIRS[which]) if tdir is not None else None
    vsplit = subdir(vdir, SPLIT_DIRS[which]) if vdir is not None else None
    if tsplit is None or vsplit is None:
        return []
    return _pair(files_with(_thermal_folder(tsplit), GRAY8_SUFFIXES), files_with(vsplit, GUIDE_SUFFIXES), tsplit)


def split_train(pairs: List[PairFiles]) -> Tuple[List[PairFiles], List[PairFiles], int]:
    """(train, val, n_val): `VAL_PAIRS` pairs drawn from train with a fixed seed (a fifth of smaller copies)."""
    n_val = min(VAL_PAIRS, len(pairs) // 5)
    chosen = set(np.random.default_rng(VAL_SEED).permutation(len(pairs))[:n_val].tolist())
    return ([p for i, p in enumerate(pairs) if i not in chosen], [p for i, p in enumerate(pairs) if i in chosen],
            n_val)


class ThermalPairDataset(FilePairDataset):
    """8-bit thermal + RGB pairs (task 'thermal', protocol 'thermal', zeros are values)."""

    task = "thermal"

    def load(self, index: int) -> Sample:
        p = self.pairs[index]
        thermal = read_gray8(p.depth, "thermal image", advice=": the thermal task's protocol is 8-bit (0–255); "
                             "convert the file to 8-bit grey first (e.g. min–max scale to 0–255)")
        guide = read_guide(p.guide)
        if guide.shape[:2] != thermal.shape:
            (th, tw), (gh, gw) = thermal.shape, guide.shape[:2]
            multiple = gh % th == 0 and gw % tw == 0 and gh // th == gw // tw
            how = f" ({gh // th}× the thermal size)" if multiple else ""
            raise DcnasError(f"{self.name} pair {p.name!r}: visible image {p.guide} is {gh}×{gw}{how} but thermal "
                             f"image {p.depth} is {th}×{tw}; this loader wants registered pairs of equal size: "
                             f"resize the visible image to {tw}×{th} first")
        return Sample(p.name, guide, thermal, None, self.units, zero_is_hole=False)


@register_dataset("thermal", "thermal:PATH (PBVS guided thermal SR: 8-bit thermal + visible pairs by stem; 0–255)",
                  task="thermal")
def open_thermal(path: Optional[str], split: str = "test", **kw) -> Dataset:
    """PBVS guided-track pairs: test = the validation folder, val = 100 drawn from train, train = the rest."""
    reject_unknown("thermal", kw)
    check_split(split)
    root = require_path(path, "thermal", LAYOUT)
    if not root.is_dir():
        raise DcnasError(f"thermal dataset path {root} is a file; expected a folder: {LAYOUT}")
    notes: List[str] = []
    if split == "test":
        pairs = _split_pairs(root, "validation")
        if not pairs:
            raise DcnasError(f"no validation folder with pairs under {root} (the test split is the challenge's "
                             f"validation set, whose ground truth is public); expected {LAYOUT}")
    else:
        train = _split_pairs(root, "train")
        if not train and split != "all":
            raise DcnasError(f"no train folder with pairs under {root}; expected {LAYOUT}")
        rest, val, n_val = split_train(train)
        if split in ("train", "val") and n_val < VAL_PAIRS:
            notes.append(f"thermal: {len(train)} training pairs here; the val split holds {n_val} of them, not "
                         f"{VAL_PAIRS}")
        if split == "val" and not val:
            raise ConfigError(f"{root} has too few training pairs ({len(train)}) to draw a val split from")
        pairs = rest if split == "train" else val if split == "val" else train + _split_pairs(root, "validation")
        if not pairs:
            raise DcnasError(f"no thermal/visible pairs under {root}; expected {LAYOUT}")
    ds = ThermalPairDataset("thermal", pairs, protocol="thermal", split=split, units="0-255")
    ds.notes = notes
    return ds
