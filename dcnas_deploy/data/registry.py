"""Datasets by spec string: ``open_dataset("middlebury:PATH")`` picks a loader by the prefix.

Loaders register themselves with ``@register_dataset(prefix, usage)``; the built-in loader modules are
imported on first use so importing this module stays cheap.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional, Sequence

import numpy as np

from dcnas_deploy.data.protocols import EvalProtocol, get_protocol
from dcnas_deploy.data.sample import Sample
from dcnas_deploy.errors import ConfigError, DcnasError

SPLITS = ("train", "val", "test", "all")

_BUILTIN_MODULES = ("synthetic", "middlebury", "nyu", "rgbdd", "folder", "thermal", "pbvs", "saliency",
                    "multispectral", "pansharpen_files", "deadleaves", "mix", "sensor_lr")


class Dataset:
    """A sequence of Samples with the scoring protocol that applies to it."""

    name: str = "dataset"
    protocol: EvalProtocol
    split: str = "test"
    task: str = "depth"
    """The task its targets belong to (dcnas_deploy.tasks): decides holes, metrics and the bands."""
    notes: Sequence[str] = ()
    """Things a user should know about this copy of the data (e.g. fewer images than its published protocol)."""

    def __len__(self) -> int:
        raise NotImplementedError

    @property
    def has_real_lr(self) -> bool:
        """Whether samples carry real low-resolution captures (see data.real_lr)."""
        return False

    def load(self, index: int) -> Sample:
        """Load sample `index` (0 ≤ index < len)."""
        raise NotImplementedError

    def __getitem__(self, index: int) -> Sample:
        n = len(self)
        if not isinstance(index, (int, np.integer)):
            raise TypeError(f"dataset index must be an int, got {type(index).__name__}")
        if index < 0:
            index += n
        if not 0 <= index < n:
            raise IndexError(f"index {index} out of range for {self.name} ({n} samples)")
        return self.load(int(index))

    def __iter__(self) -> Iterator[Sample]:
        for i in range(len(self)):
            yield self[i]

    def describe(self) -> str:
        """One line for tables and logs."""
        return f"{self.name}: {len(self)} samples ({self.split} split), protocol {self.protocol.name}"


class Subset(Dataset):
    """The samples of `base` at `indices`, same protocol."""

    def __init__(self, base: Dataset, indices: Sequence[int]):
        self.base, self.indices = base, list(indices)
        self.name, self.protocol, self.split, self.notes = base.name, base.protocol, base.split, base.notes
        self.task = base.task

    def __len__(self) -> int:
        return len(self.indices)

    @property
    def has_real_lr(self) -> bool:
        """Whether the base dataset has real LR captures."""
        return self.base.has_real_lr

    def load(self, index: int) -> Sample:
        return self.base[self.indices[index]]


@dataclass(frozen=True)
class PairFiles:
    """Where one sample lives on disk."""

    name: str
    depth: Path
    guide: Path
    lr: Optional[Path] = None


class FilePairDataset(Dataset):
    """A dataset backed by a list of (depth, guide[, real LR]) files; subclasses only build the list."""

    def __init__(self, name: str, pairs: List[PairFiles], protocol: str, split: str, units: str):
        self.name, self.pairs, self.split, self.units = name, pairs, split, units
        self.protocol = get_protocol(protocol)

    def __len__(self) -> int:
        return len(self.pairs)

    @property
    def has_real_lr(self) -> bool:
        """Whether any pair has a real LR file."""
        return any(p.lr is not None for p in self.pairs)

    def load(self, index: int) -> Sample:
        from dcnas_deploy.data.io import read_depth, read_guide

        p = self.pairs[index]
        depth = read_depth(p.depth)
        guide = read_guide(p.guide)
        if guide.shape[:2] != depth.shape:
            raise DcnasError(f"{self.name} sample {p.name!r}: guide {p.guide} is {guide.shape[0]}×{guide.shape[1]} "
                             f"but depth {p.depth} is {depth.shape[0]}×{depth.shape[1]}; they must match")
        lr = read_depth(p.lr) if p.lr is not None else None
        return Sample(p.name, guide, depth, lr, self.units)


DatasetFactory = Callable[..., Dataset]
SpecCheck = Callable[[Optional[str]], None]
_FACTORIES: Dict[str, DatasetFactory] = {}
_USAGE: Dict[str, str] = {}
_CHECKS: Dict[str, SpecCheck] = {}
_PUBLISHED: Dict[str, Dict[str, int]] = {}
_TASKS: Dict[str, str] = {}


def register_dataset(prefix: str, usage: str, check: Optional[SpecCheck] = None,
                     published: Optional[Dict[str, int]] = None,
                     task: str = "depth") -> Callable[[DatasetFactory], DatasetFactory]:
    """Decorator: register factory(path: str | None, split: str, **kw) -> Dataset under `prefix`.

    `check(rest)` validates the text after 'prefix:' without touching the disk (default: a path is required);
    `published` maps a split to its image count in the published protocol (fewer here gets a note);
    `task` is the task its targets belong to (dcnas_deploy.tasks), known without opening the data.
    """

    def deco(factory: DatasetFactory) -> DatasetFactory:
        _FACTORIES[prefix] = factory
        _USAGE[prefix] = usage
        _TASKS[prefix] = task
        _CHECKS[prefix] = check or (lambda rest: _need_path(rest, prefix))
        _PUBLISHED[prefix] = dict(published or {})
        return factory

    return deco


def _need_path(rest: Optional[str], prefix: str) -> None:
    if not rest:
        raise ConfigError(f"dataset spec '{prefix}' needs a path: {prefix}:PATH ({_USAGE[prefix]})")


def check_spec(spec: str) -> str:
    """`spec` if its prefix is known and its options parse (paths are not opened); else ConfigError."""
    _load_builtins()
    prefix, _, rest = str(spec).partition(":")
    prefix = prefix.strip().lower()
    if prefix not in _FACTORIES:
        raise ConfigError(f"unknown dataset spec {spec!r}; known: {_known_text()}")
    _CHECKS[prefix](rest or None)
    return spec


def task_of_spec(spec: str) -> str:
    """The task of the data named by `spec` (from its prefix; the data is not opened)."""
    check_spec(spec)
    return _TASKS[str(spec).partition(":")[0].strip().lower()]


def _load_builtins() -> None:
    for mod in _BUILTIN_MODULES:
        importlib.import_module(f"dcnas_deploy.data.{mod}")


def known_datasets() -> Dict[str, str]:
    """prefix -> usage line, for every registered loader."""
    _load_builtins()
    return dict(sorted(_USAGE.items()))


def _known_text() -> str:
    return "; ".join(_USAGE[k] for k in sorted(_USAGE))


def check_split(split: str, allowed: Sequence[str] = SPLITS) -> str:
    """Return `split` if allowed, else a ConfigError listing the allowed ones."""
    if split not in allowed:
        raise ConfigError(f"unknown split {split!r}; expected one of {list(allowed)}")
    return split


def open_dataset(spec: str, split: str = "test", *, protocol: Optional[str] = None,
                 limit: Optional[int] = None, **kw) -> Dataset:
    """Open the dataset named by `spec` ('synthetic', 'nyu:PATH', ...) for `split`.

    `protocol` overrides the loader's scoring protocol (e.g. 'nyu' for a folder in metres);
    `limit` keeps the first N samples; other keywords go to the loader.
    """
    _load_builtins()
    prefix, _, rest = str(spec).partition(":")
    prefix = prefix.strip().lower()
    if prefix not in _FACTORIES:
        hint = f" (for a folder of pairs use folder:{spec})" if Path(spec).is_dir() else ""
        raise ConfigError(f"unknown dataset spec {spec!r}{hint}; known: {_known_text()}")
    ds = _FACTORIES[prefix](rest or None, split, **kw)
    ds.task = _TASKS[prefix]
    want = _PUBLISHED[prefix].get(split)
    if want is not None and 0 < len(ds) < want:
        ds.notes = [*ds.notes, f"{prefix} {split} split: {len(ds)} images here, the published protocol scores {want}; "
                               f"means over this copy are not comparable with published numbers"]
    if protocol is not None:
        ds.protocol = get_protocol(protocol)
    if limit is not None:
        if limit < 1:
            raise ConfigError(f"limit must be ≥ 1, got {limit}")
        ds = Subset(ds, range(min(limit, len(ds))))
    if len(ds) == 0:
        raise DcnasError(f"dataset {spec!r} has no samples in split {split!r}")
    return ds


def require_path(path: Optional[str], prefix: str, layout: str) -> Path:
    """PATH of a 'prefix:PATH' spec as an existing path, or an error describing the expected layout."""
    if not path:
        raise ConfigError(f"dataset spec '{prefix}' needs a path: {prefix}:PATH ({layout})")
    p = Path(path).expanduser()
    if not p.exists():
        raise DcnasError(f"{prefix} dataset path not found: {p} (expected {layout})")
    return p


def reject_unknown(prefix: str, kw: dict, allowed: Sequence[str] = ()) -> None:
    """ConfigError for loader keywords the loader does not take."""
    unknown = sorted(set(kw) - set(allowed))
    if unknown:
        raise ConfigError(f"dataset '{prefix}' takes no option(s) {unknown}; it takes: {sorted(allowed) or 'none'}")


def base_dataset(dataset: Dataset) -> Dataset:
    """The dataset under any Subset/cache wrappers (where loader-specific attributes live)."""
    while hasattr(dataset, "base"):
        dataset = dataset.base
    return dataset
