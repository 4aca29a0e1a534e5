"""Saliency maps: procedural scenes (``saliency-synthetic``) and the DUT-OMRON layout (``saliency:PATH``).

Procedural: the synthetic rooms' colour image as the guide and, as the salient region, the foreground
objects: visible objects covering at least 1 % of the image whose median depth is within 1.5× (+0.3 m)
of the nearest such object; room planes and colour-camouflaged objects are background. The target is
H×W float32 in {0, 1}. A scene without such an object is re-rendered from a derived seed.

DUT-OMRON: images in ``DUT-OMRON-image/`` (.jpg) with ground-truth masks in ``pixelwiseGT-new-PNG/``
(.png), paired by stem; ``images/`` + ``masks/`` and ``Imgs/`` + ``GT/`` work too (folder names
case-insensitive, a doubled folder from unzipping is entered). Every image is in the test split (the
paper's test set). Masks are 8-bit grey scaled to [0, 1]; a mask with more than 1 % of its pixels strictly
between 10 and 245 (beyond anti-aliased edges) is refused as not binary.
"""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional, Tuple, Union

import numpy as np

from dcnas_deploy.data.gray8 import read_gray8
from dcnas_deploy.data.io import GUIDE_SUFFIXES, read_guide
from dcnas_deploy.data.pairing import files_with, subdir
from dcnas_deploy.data.protocols import get_protocol
from dcnas_deploy.data.registry import (Dataset, FilePairDataset, PairFiles, check_split, register_dataset,
                                        reject_unknown, require_path)
from dcnas_deploy.data.sample import Sample
from dcnas_deploy.data.synthetic import PLANES, ProceduralDataset, SceneLayers, parse_options, render_layers
from dcnas_deploy.errors import DcnasError

MIN_AREA = 0.01
NEAR_FACTOR, NEAR_MARGIN = 1.5, 0.3
ATTEMPTS = 8
IMAGE_DIRS = ("DUT-OMRON-image", "images", "imgs", "image")
MASK_DIRS = ("pixelwiseGT-new-PNG", "masks", "gt", "mask")
GREY_FRACTION = 0.01
LAYOUT = ("PATH/DUT-OMRON-image/NAME.jpg + PATH/pixelwiseGT-new-PNG/NAME.png (or images/ + masks/, Imgs/ + GT/), "
          "paired by stem")


def salient_mask(layers: SceneLayers) -> np.ndarray:
    """H×W float32 {0, 1}: the foreground objects of a rendered scene (see the module docstring)."""
    ids, depth = layers.ids, layers.depth
    counts = np.bincount(ids.ravel().astype(np.int64), minlength=len(PLANES) + len(layers.scene["objects"]))
    candidates: List[Tuple[int, float]] = []
    for j, ob in enumerate(layers.scene["objects"]):
        k = len(PLANES) + j
        if ob["camouflage"] or counts[k] < MIN_AREA * ids.size:
            continue
        candidates.append((k, float(np.median(depth[ids == k]))))
    if not candidates:
        return np.zeros(ids.shape, dtype=np.float32)
    nearest = min(d for _, d in candidates)
    keep = [k for k, d in candidates if d <= NEAR_FACTOR * nearest + NEAR_MARGIN]
    return np.isin(ids, keep).astype(np.float32)


def render_saliency(seed: Union[int, np.random.SeedSequence],
                    size: Union[int, Tuple[int, int]] = 256) -> Tuple[np.ndarray, np.ndarray]:
    """(guide H×W×3 in [0, 1], saliency H×W in {0, 1}); re-rendered from derived seeds until something is salient."""
    ss = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(int(seed))
    for attempt in range(ATTEMPTS):
        sub = ss if attempt == 0 else np.random.SeedSequence(ss.entropy, spawn_key=(*ss.spawn_key, 0x5A, attempt))
        layers = render_layers(sub, size)
        mask = salient_mask(layers)
        if mask.any():
            break
    return layers.guide, mask


class SaliencySyntheticDataset(ProceduralDataset):
    """`n` procedural scenes of `size` with foreground-object saliency masks (task 'saliency')."""

    name = "saliency-synthetic"
    task = "saliency"

    def __init__(self, split: str = "test", n: Optional[int] = None, size: Union[int, Tuple[int, int]] = 256,
                 seed: int = 0):
        super().__init__(split, n, size, seed)
        self.protocol = get_protocol("saliency")

    def load(self, index: int) -> Sample:
        guide, mask = render_saliency(self.seed_of(index), self.size)
        return Sample(f"saliency_{self.split}_{index:05d}", guide, mask, None, "0-1", zero_is_hole=False)


_KEYS = ("n", "size", "seed")


def _check_options(text: Optional[str]) -> None:
    """Validate 'n=24,size=256,seed=0' without rendering anything."""
    SaliencySyntheticDataset("all", **parse_options(text, "saliency-synthetic", _KEYS))


@register_dataset("saliency-synthetic",
                  "saliency-synthetic[:n=24,size=256,seed=0] (procedural rooms, foreground objects salient; 0–1)",
                  check=_check_options, task="saliency")
def open_saliency_synthetic(path: Optional[str], split: str = "test", **kw) -> Dataset:
    """Procedural saliency scenes; options from the spec text and/or keywords (n, size, seed)."""
    opts = parse_options(path, "saliency-synthetic", _KEYS)
    reject_unknown("saliency-synthetic", kw, _KEYS)
    opts.update(kw)
    return SaliencySyntheticDataset(split, **opts)


def read_mask(path: Path) -> np.ndarray:
    """A saliency mask as float32 H×W in [0, 1]; DcnasError when it is not an 8-bit (near-)binary mask."""
    m = read_gray8(path, "saliency mask", advice=": save masks as 8-bit grey with 0 = background, 255 = salient")
    grey = float(np.mean((m > 10) & (m < 245)))
    if grey > GREY_FRACTION:
        raise DcnasError(f"saliency mask {path} is not binary: {100 * grey:.1f} % of its pixels lie strictly between "
                         f"10 and 245 (at most {100 * GREY_FRACTION:g} % anti-aliased edge pixels are allowed); "
                         "expected 0 = background, 255 = salient")
    if 0 < m.max() <= 1:
        raise DcnasError(f"saliency mask {path} holds only the values 0 and 1; expected 0 = background, "
                         "255 = salient (multiply it by 255)")
    return m / np.float32(255.0)


def _folder(root: Path, names) -> Optional[Path]:
    d = subdir(root, names)
    if d is not None:
        inner = subdir(d, (d.name,))  # DUT-OMRON-image.zip unpacks to DUT-OMRON-image/DUT-OMRON-image/
        return inner or d
    return None


class SaliencyPairDataset(FilePairDataset):
    """RGB image + binary mask pairs (task 'saliency', protocol 'saliency', zeros are values)."""

    task = "saliency"

    def load(self, index: int) -> Sample:
        p = self.pairs[index]
        mask = read_mask(p.depth)
        guide = read_guide(p.guide)
        if guide.shape[:2] != mask.shape:
            raise DcnasError(f"{self.name} pair {p.name!r}: image {p.guide} is {guide.shape[0]}×{guide.shape[1]} "
                             f"but mask {p.depth} is {mask.shape[0]}×{mask.shape[1]}; they must match")
        return Sample(p.name, guide, mask, None, self.units, zero_is_hole=False)


@register_dataset("saliency", "saliency:PATH (DUT-OMRON: DUT-OMRON-image/*.jpg + pixelwiseGT-new-PNG/*.png; 0–1)",
                  published={"test": 5168, "all": 5168}, task="saliency")
def open_saliency(path: Optional[str], split: str = "test", **kw) -> Dataset:
    """DUT-OMRON image/mask pairs (evaluation only: 'test' and 'all' are every image)."""
    reject_unknown("saliency", kw)
    check_split(split, ("test", "all"))
    root = require_path(path, "saliency", LAYOUT)
    idir, mdir = _folder(root, IMAGE_DIRS), _folder(root, MASK_DIRS)
    if idir is None or mdir is None:
        raise DcnasError(f"no image and mask folders under {root}; expected {LAYOUT}")
    masks = {m.stem: m for m in files_with(mdir, (".png", ".bmp"))}
    images = files_with(idir, GUIDE_SUFFIXES)
    if not images:
        raise DcnasError(f"no images in {idir}; expected {LAYOUT}")
    missing = [i.name for i in images if i.stem not in masks]
    if missing:
        more = f" (and {len(missing) - 3} more)" if len(missing) > 3 else ""
        raise DcnasError(f"{len(missing)} image(s) in {idir} have no mask in {mdir}: {', '.join(missing[:3])}{more} "
                         f"(expected {mdir}/<stem>.png)")
    pairs = [PairFiles(i.stem, masks[i.stem], i) for i in images]
    return SaliencyPairDataset("saliency", pairs, protocol="saliency", split=split, units="0-1")
