"""Middlebury and Lu test sets as distributed for guided depth SR: 8-bit depth PNG + colour PNG pairs."""
from __future__ import annotations

from typing import Optional

from dcnas_deploy.data.pairing import pair_by_token
from dcnas_deploy.data.registry import (Dataset, FilePairDataset, PairFiles, check_split, register_dataset,
                                        reject_unknown, require_path)
from dcnas_deploy.errors import DcnasError

LAYOUT = ("PATH/**/NAME_depth.png with NAME_color.png beside it or in a sibling folder, e.g. "
          "Depth/Middlebury_01_output_depth.png + RGB/Middlebury_01_output_color.png")


def _open(prefix: str, path: Optional[str], split: str, **kw) -> Dataset:
    reject_unknown(prefix, kw)
    check_split(split, ("test", "all"))
    root = require_path(path, prefix, LAYOUT)
    pairs = pair_by_token(root)
    if not pairs:
        raise DcnasError(f"no depth/colour pairs found under {root}; expected {LAYOUT}")
    files = [PairFiles(name, d, g) for name, d, g in pairs]
    return FilePairDataset(prefix, files, protocol="middlebury", split=split, units="0-255")


@register_dataset("middlebury", "middlebury:PATH (8-bit *_depth.png + *_color.png pairs; RMSE in 0–255, no crop)",
                  published={"test": 30, "all": 30})
def open_middlebury(path: Optional[str], split: str = "test", **kw) -> Dataset:
    """Middlebury pairs (evaluation only: splits 'test' and 'all' are the same 30 images)."""
    return _open("middlebury", path, split, **kw)


@register_dataset("lu", "lu:PATH (Lu et al. pairs, same layout and protocol as middlebury)",
                  published={"test": 6, "all": 6})
def open_lu(path: Optional[str], split: str = "test", **kw) -> Dataset:
    """Lu pairs: the Middlebury layout and protocol under another name."""
    return _open("lu", path, split, **kw)
