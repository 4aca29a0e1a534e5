"""Torch batches for training and validation, on top of the torch-free data package.

Every training sample is derived from (seed, step, path index, sample index) alone, so a resumed run
sees exactly the batches an uninterrupted one would, and DDP ranks take disjoint slices of the same
global batch. Depth is normalised per patch by the data section's mode ('lr': min–max of the LR input,
deployable; 'gt': of the ground truth); holes (0/NaN) in the HR are masked out of losses and scores.
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import List, NamedTuple, Sequence

import numpy as np
import torch

from dcnas_deploy.data.registry import Dataset
from dcnas_deploy.data.sample import Sample, Triple, band_counts
from dcnas_deploy.errors import ConfigError, DcnasError

_VAL_STREAM = 7_777  # distinguishes the validation crops' seeds from training steps


class Batch(NamedTuple):
    """Normalised tensors: lr N×C×h×w, guide N×G×H×W in [0,1], hr N×C×H×W, mask N×C×H×W (valid GT)."""

    lr: torch.Tensor
    guide: torch.Tensor
    hr: torch.Tensor
    mask: torch.Tensor

    def to(self, device: torch.device) -> "Batch":
        """The same batch on `device`."""
        return Batch(*(t.to(device, non_blocking=True) for t in self))

    def __len__(self) -> int:
        return int(self.lr.shape[0])


class CachedDataset(Dataset):
    """`base` with an LRU cache of decoded samples (rendering/decoding dominates small-patch training)."""

    def __init__(self, base: Dataset, capacity: int):
        self.base, self.capacity = base, int(capacity)
        self.name, self.protocol, self.split, self.task = base.name, base.protocol, base.split, base.task
        self._cache: "OrderedDict[int, Sample]" = OrderedDict()

    def __len__(self) -> int:
        return len(self.base)

    def load(self, index: int) -> Sample:
        if index in self._cache:
            self._cache.move_to_end(index)
            return self._cache[index]
        sample = self.base[index]
        if self.capacity > 0:
            self._cache[index] = sample
            if len(self._cache) > self.capacity:
                self._cache.popitem(last=False)
        return sample


def open_split(spec: str, split: str, what: str, cache: int = 0) -> Dataset:
    """open_dataset with an error that says which role (training/validation) the split was for."""
    from dcnas_deploy.data.registry import open_dataset

    try:
        ds = open_dataset(spec, split)
    except ConfigError as exc:
        raise ConfigError(f"{what} data {spec!r} (split {split!r}): {exc}") from None
    return CachedDataset(ds, cache) if cache else ds


def check_sample_bands(dataset: Dataset, target_channels: int, guide_channels: int, what: str) -> None:
    """ConfigError naming both when the first sample's bands differ from the network's (one sample is read)."""
    s = dataset[0]
    found = band_counts(s.depth_hr, s.guide)
    if found != (int(target_channels), int(guide_channels)):
        raise ConfigError(f"{what} has a {found[0]}-band target and a {found[1]}-band guide; the preset's space "
                          f"wants {target_channels} and {guide_channels} (space.target_channels/guide_channels)")


def normalise_triples(triples: Sequence[Triple], mode: str) -> Batch:
    """Stack triples into a normalised Batch (lr holes filled with the nearest valid LR pixel)."""
    from dcnas_deploy.data.holes import fill_holes, invalid_mask
    from dcnas_deploy.data.normalize import norm_stats

    lrs, guides, hrs, masks = [], [], [], []
    for t in triples:
        lr = fill_holes(t.lr, f"LR of {t.name}", t.zero_is_hole)
        mm = norm_stats(mode, lr, t.hr, t.zero_is_hole)
        valid = ~invalid_mask(t.hr, t.zero_is_hole)
        lrs.append(_chw(mm.apply(lr)))
        hrs.append(_chw(np.where(valid, mm.apply(np.nan_to_num(t.hr)), 0.0).astype(np.float32)))
        masks.append(_chw(valid))
        guides.append(_chw(np.asarray(t.guide, dtype=np.float32)))
    return Batch(torch.from_numpy(np.stack(lrs).copy()), torch.from_numpy(np.stack(guides).copy()),
                 torch.from_numpy(np.stack(hrs).copy()), torch.from_numpy(np.stack(masks).copy()))


def _chw(a: np.ndarray) -> np.ndarray:
    """H×W → 1×H×W; H×W×C → C×H×W."""
    return a[None] if a.ndim == 2 else a.transpose(2, 0, 1)


@dataclass
class TrainStream:
    """Deterministic training batches: `batch(step, j)` is a pure function of (seed, step, j, rank)."""

    dataset: Dataset
    batch_size: int
    patch_size: int
    scale: int
    norm: str
    seed: int = 0
    noise_level: float = 0.0
    augment: bool = True
    real_lr: bool = True
    rank: int = 0
    world: int = 1

    def __post_init__(self):
        if self.batch_size % self.world:
            raise ConfigError(f"data.batch_size {self.batch_size} must be divisible by the number of processes "
                              f"({self.world})")

    @property
    def local_batch(self) -> int:
        """Samples this rank draws per step."""
        return self.batch_size // self.world

    def triple(self, step: int, j: int, b: int) -> Triple:
        """Sample b of the global batch of (step, path j)."""
        from dcnas_deploy.data.patches import random_patch

        rng = np.random.default_rng([self.seed, step, j, b])
        sample = self.dataset[int(rng.integers(len(self.dataset)))]
        return random_patch(sample, self.patch_size, self.scale, rng, augment=self.augment,
                            noise_level=self.noise_level, use_real_lr=self.real_lr)

    def batch(self, step: int, j: int = 0) -> Batch:
        """This rank's slice of the global batch for (step, path j)."""
        lo = self.rank * self.local_batch
        return normalise_triples([self.triple(step, j, b) for b in range(lo, lo + self.local_batch)], self.norm)


def validation_batches(dataset: Dataset, crops: int, patch_size: int, scale: int, norm: str, batch: int,
                       seed: int = 0, noise_level: float = 0.0, real_lr: bool = True) -> List[Batch]:
    """Fixed validation crops (crop i from sample i mod len, position from (seed, i)), no augmentation."""
    from dcnas_deploy.data.patches import random_patch

    triples = []
    for i in range(crops):
        rng = np.random.default_rng([seed, _VAL_STREAM, i])
        sample = dataset[i % len(dataset)]
        try:
            triples.append(random_patch(sample, patch_size, scale, rng, augment=False, noise_level=noise_level,
                                        use_real_lr=real_lr))
        except DcnasError as exc:
            raise DcnasError(f"validation crop {i}: {exc}") from None
    return [normalise_triples(triples[i:i + batch], norm) for i in range(0, len(triples), batch)]
