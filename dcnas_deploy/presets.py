"""Named presets (`profiles/*.yaml`): search space, data, training, sampling, predictor, search, retrain.

A preset is strict YAML: an unknown key or an out-of-range value is a ConfigError naming the key path
(`training.lr`). Missing keys take the defaults below, which follow the paper (DCNAS-Tiny, §IV-A)
where it gives a value; durations are in optimiser steps (the paper's epochs converted at NYU v2 size,
1000 training images / batch 16 = 63 steps per epoch; see profiles/tiny-x8.yaml).
Torch-free: the CLI imports this at command time only, the search reads `preset.search`.
"""
from __future__ import annotations

import copy
import functools
import math
import os
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Set, Tuple, cast

from dcnas_deploy.errors import ConfigError

def _f(default: Any, *, lo: Optional[float] = None, hi: Optional[float] = None, choices: Optional[Tuple] = None,
       lo_open: bool = False, doc: str = "") -> Any:
    """A dataclass field with validation metadata (inclusive bounds unless lo_open)."""
    meta = {"lo": lo, "hi": hi, "choices": choices, "lo_open": lo_open, "doc": doc}
    if isinstance(default, (list, dict)):
        return field(default_factory=functools.partial(copy.deepcopy, default), metadata=meta)
    return field(default=default, metadata=meta)


@dataclass
class SpaceSection:
    """Search space geometry; hr_size is the deployment HR size (MACs/latency costs are taken there)."""

    width: int = _f(8, lo=4, hi=256, doc="base width C (stage widths C·2^i)")
    scale: int = _f(8, choices=(2, 4, 8, 16))
    hr_size: List[int] = _f([256, 256], doc="deployment HR size [H, W]")
    target_channels: int = _f(1, lo=1, hi=64)
    guide_channels: int = _f(3, lo=1, hi=64)


@dataclass
class DataSection:
    """Training data: dataset spec, normalisation, patches, the fixed validation crops."""

    spec: str = _f("synthetic", doc="dataset spec (synthetic, nyu:PATH, middlebury:PATH, folder:PATH, ...)")
    norm: str = _f("lr", choices=("lr", "gt"), doc="'lr' (deployable, default) or 'gt' (published protocol)")
    patch_size: int = _f(256, lo=8, doc="HR training patch size")
    batch_size: int = _f(16, lo=1, doc="global batch (split across DDP ranks)")
    noise_level: float = _f(0.0, lo=0.0, doc="LR noise variance on a 0-255 scale (paper: 25)")
    real_lr: bool = _f(True, doc="use a dataset's real LR captures when it has them")
    augment: bool = _f(True, doc="random flips and 90° rotations")
    train_split: str = _f("train", choices=("train", "val", "test", "all"))
    val_spec: str = _f("", doc="dataset spec of the validation crops ('' = spec)")
    val_split: str = _f("val", choices=("train", "val", "test", "all"))
    val_crops: int = _f(16, lo=1, doc="number of fixed validation crops (same every evaluation)")
    val_patch: int = _f(0, lo=0, doc="HR size of the validation crops (0 = patch_size)")
    val_batch: int = _f(16, lo=1, doc="validation crops per forward pass")
    metric: str = _f("l1", choices=("l1", "rmse"), doc="path score on the validation crops (normalised units)")
    cache_samples: int = _f(256, lo=0, doc="decoded samples kept in memory")


@dataclass
class TrainingSection:
    """Optimiser and run bookkeeping (paper: Adam β 0.9/0.99, ε 1e-8, lr 1e-4 halved every 100 epochs)."""

    steps: int = _f(18900, lo=1, doc="iterations of Alg. 1 (300 epochs at 63 steps/epoch)")
    lr: float = _f(1e-4, lo=0.0, hi=1.0, lo_open=True)
    betas: List[float] = _f([0.9, 0.99])
    eps: float = _f(1e-8, lo=0.0, hi=1.0, lo_open=True)
    lr_halve_every: int = _f(6300, lo=0, doc="halve the lr every N steps (0 = constant)")
    grad_clip: float = _f(0.0, lo=0.0, doc="max gradient norm (0 = off)")
    zero_head: bool = _f(True, doc="start the output conv at zero (or at head_init_scale × its default init) so "
                                   "every path starts as (nearly) bicubic lr_up")
    init_supernet: str = _f("", doc="start a supernet's weights from this one (a run folder or a shipped name such "
                            "as supernet-x8) instead of random: same width and channels, any scale (lr_up has no "
                            "weights); its paths are already off the zero head's plateau")
    head_init_scale: float = _f(0.0, lo=0.0, hi=1.0, doc="with zero_head: 0 = exactly zero; > 0 = PyTorch's default "
                                "init scaled by this, so the body gets a gradient from the first step")
    checkpoint_every: int = _f(500, lo=1)
    log_every: int = _f(10, lo=1)
    seed: int = _f(0, lo=0)
    device: str = _f("auto", choices=("auto", "cpu", "cuda"))
    threads: int = _f(0, lo=0, doc="torch CPU threads per process (0 = torch default)")
    deterministic: bool = _f(True, doc="torch.use_deterministic_algorithms (warn-only)")
    amp: str = _f("off", choices=("off", "bf16", "fp16"),
                  doc="autocast the forward pass: bf16 (CPUs with AMX/AVX512-BF16, recent GPUs) or fp16 (CUDA, "
                      "with loss scaling); validation always runs in fp32")
    ddp: str = _f("ddp", choices=("ddp", "allreduce"),
                  doc="gradient averaging: DistributedDataParallel (overlaps with backward; measured faster) or "
                      "one flat all_reduce of the path's grads after backward")


@dataclass
class SamplingSection:
    """Path sampling of Alg. 1: uniform warm-up, then predictor-guided under a sampled constraint τ."""

    strategy: str = _f("predictor", choices=("predictor", "uniform"), doc="'uniform' = SPOS throughout")
    constraint: str = _f("params", doc="cost that τ constrains: params, macs or latency:DEVICE")
    warmup_steps: int = _f(1890, lo=0, doc="uniform steps before the predictor (30 epochs)")
    largest_steps: int = _f(0, lo=0, doc="first steps train the largest path (every slot k7e6, a two-input "
                            "fusion drawn per level), as Once-for-All starts from its full network")
    hand_steps: int = _f(0, lo=0, doc="first steps train the hand design (every slot k3e4, depth 2, fusions "
                         "concat_pw): one fixed mid-size path leaves the zero head's plateau as a single network does")
    m: int = _f(20, lo=1, doc="candidates per step")
    k: int = _f(1, lo=1, doc="candidates trained per step (the predictor's top k)")
    refresh_every: int = _f(1260, lo=1, doc="t: refresh the predictor every t steps (20 epochs)")
    refresh_paths: int = _f(128, lo=2, doc="n: freshly scored paths per refresh")
    init_paths: int = _f(1024, lo=2, doc="paths scored after the warm-up to train the first predictor")
    sigma: float = _f(0.05, lo=0.0, hi=1.0, lo_open=True,
                      doc="acceptance window below τ, as a fraction of the space's cost range")
    draw_batch: int = _f(1024, lo=16, doc="genomes drawn per acceptance-rejection batch")
    max_draws: int = _f(8, lo=1, doc="batches drawn before falling back to the nearest paths below τ")


@dataclass
class PredictorSection:
    """Ranking predictor (§III-C): gene + τ embeddings → 2-layer BiGRU → MLP."""

    loss: str = _f("hinge", choices=("hinge", "ranknet", "l1", "l2"))
    margin: float = _f(0.1, lo=0.0, doc="hinge margin ε (eq. 17)")
    embed_dim: int = _f(32, lo=2)
    hidden: int = _f(64, lo=2)
    layers: int = _f(2, lo=1, hi=4)
    lr: float = _f(1e-3, lo=0.0, hi=1.0, lo_open=True)
    weight_decay: float = _f(0.0, lo=0.0)
    batch_paths: int = _f(64, lo=2, doc="paths per predictor minibatch (all pairs inside are ranked)")
    init_epochs: int = _f(60, lo=1, doc="epochs of the first fit")
    refresh_epochs: int = _f(10, lo=1, doc="epochs of each fine-tuning")


@dataclass
class SearchSection:
    """Evolutionary search (Alg. 2), consumed by `dcnas-deploy search`."""

    population: int = _f(50, lo=2)
    topk: int = _f(10, lo=1)
    crossovers: int = _f(25, lo=0)
    mutations: int = _f(25, lo=0)
    mutation_prob: float = _f(0.1, lo=0.0, hi=1.0)
    iterations: int = _f(200, lo=1)
    init_pool: int = _f(1000, lo=1, doc="random feasible paths the predictor picks the first population from")
    constraints: Dict[str, str] = _f({"params": "0.6M"}, doc="cost → budget, e.g. {params: 0.6M, latency:cpu: 40ms}")


@dataclass
class RetrainSection:
    """Training a found architecture (`dcnas-deploy train --arch`); the paper uses the supernet settings."""

    steps: int = _f(18900, lo=1)
    lr: float = _f(1e-4, lo=0.0, hi=1.0, lo_open=True)
    lr_halve_every: int = _f(6300, lo=0)


SECTIONS = {"space": SpaceSection, "data": DataSection, "training": TrainingSection, "sampling": SamplingSection,
            "predictor": PredictorSection, "search": SearchSection, "retrain": RetrainSection}


@dataclass
class Preset:
    """A validated preset; `to_dict()` round-trips through `Preset.from_dict`."""

    name: str = "custom"
    description: str = ""
    task: str = "depth"
    """The GISR task (dcnas_deploy.tasks): decides the bands, holes, metrics and default data."""
    space: SpaceSection = field(default_factory=SpaceSection)
    data: DataSection = field(default_factory=DataSection)
    training: TrainingSection = field(default_factory=TrainingSection)
    sampling: SamplingSection = field(default_factory=SamplingSection)
    predictor: PredictorSection = field(default_factory=PredictorSection)
    search: SearchSection = field(default_factory=SearchSection)
    retrain: RetrainSection = field(default_factory=RetrainSection)
    source: Optional[str] = field(default=None, compare=False)

    # ---- construction ----------------------------------------------------------------------
    @classmethod
    def from_dict(cls, d: Any, source: str = "preset") -> "Preset":
        """Validate a plain dict; all problems are reported together, each with its key path."""
        if not isinstance(d, Mapping):
            raise ConfigError(f"{source}: a preset is a mapping with sections {sorted(SECTIONS)}, "
                              f"got {type(d).__name__}")
        errors: List[str] = []
        known = {"name", "description", "task", *SECTIONS}
        for key in d:
            if key not in known:
                errors.append(f"{key}: unknown key (expected one of {sorted(known)})")
        sections = {}
        for name, cls_ in SECTIONS.items():
            raw = d.get(name) or {}
            if not isinstance(raw, Mapping):
                errors.append(f"{name}: expected a mapping, got {type(raw).__name__}")
                raw = {}
            sections[name] = _build_section(cls_, raw, name, errors)
        preset = cls(name=str(d.get("name", "custom")), description=str(d.get("description", "")),
                     task=str(d.get("task", "depth")), **sections, source=source)
        if not errors:
            preset._cross_checks(errors)
        if errors:
            raise ConfigError(f"{source}: {len(errors)} invalid setting(s):\n  - " + "\n  - ".join(errors))
        return preset

    def _cross_checks(self, errors: List[str]) -> None:
        """Checks that involve more than one key."""
        from dcnas_deploy.space import SearchSpace
        from dcnas_deploy.tasks import get_task

        sp = self.space
        try:
            task = get_task(self.task)
            task.check_bands(sp.target_channels, sp.guide_channels, "space")
        except ConfigError as exc:
            errors.append(f"{'space' if 'band' in str(exc) else 'task'}: {exc}")
            return
        if len(sp.hr_size) != 2 or any(not isinstance(v, int) or v <= 0 for v in sp.hr_size):
            errors.append(f"space.hr_size: expected [H, W] positive integers, got {sp.hr_size}")
            return
        try:
            space = SearchSpace(width=sp.width, scale=sp.scale, hr_size=cast(Tuple[int, int], tuple(sp.hr_size)),
                                target_channels=sp.target_channels, guide_channels=sp.guide_channels)
        except ConfigError as exc:
            errors.append(f"space.hr_size: {exc}")
            return
        for key in ("patch_size", "val_patch"):
            v = getattr(self.data, key)
            if v == 0 and key == "val_patch":
                continue
            try:
                space.check_hr((v, v))
            except ConfigError as exc:
                errors.append(f"data.{key}: {exc}")
        from dcnas_deploy.data.registry import check_spec

        from dcnas_deploy.data.registry import task_of_spec

        for key in ("spec", "val_spec"):
            spec = getattr(self.data, key)
            if spec or key == "spec":
                try:
                    check_spec(spec)
                    data_task = task_of_spec(spec)
                except ConfigError as exc:
                    errors.append(f"data.{key}: {exc}")
                    continue
                if data_task != task.name:
                    errors.append(f"data.{key}: {spec!r} holds {data_task} data but the preset's task is "
                                  f"{task.name!r} (use {task.procedural!r} or a {task.name} dataset)")
        tr = self.training
        if len(tr.betas) != 2 or not all(isinstance(b, float) and 0.0 <= b < 1.0 for b in tr.betas):
            errors.append(f"training.betas: expected [beta1, beta2] in [0, 1), got {tr.betas}")
        if self.sampling.largest_steps and self.sampling.hand_steps:
            errors.append(f"sampling.hand_steps: {self.sampling.hand_steps} and sampling.largest_steps "
                          f"({self.sampling.largest_steps}) both set: the first steps train one start path, pick one")
        if self.sampling.k > self.sampling.m:
            errors.append(f"sampling.k: {self.sampling.k} must be ≤ sampling.m ({self.sampling.m})")
        try:
            check_cost_name(self.sampling.constraint)
        except ConfigError as exc:
            errors.append(f"sampling.constraint: {exc}")
        se = self.search
        if se.topk > se.population:
            errors.append(f"search.topk: {se.topk} must be ≤ search.population ({se.population})")
        if se.init_pool < se.population:
            errors.append(f"search.init_pool: {se.init_pool} must be ≥ search.population ({se.population})")
        for cost, budget in se.constraints.items():
            try:
                check_cost_name(cost)
                parse_budget(cost, budget)
            except ConfigError as exc:
                errors.append(f"search.constraints.{cost}: {exc}")

    # ---- views -------------------------------------------------------------------------------
    def to_dict(self) -> Dict[str, Any]:
        """Plain dict (what the YAML holds)."""
        out: Dict[str, Any] = {"name": self.name, "description": self.description, "task": self.task}
        for name in SECTIONS:
            sec = getattr(self, name)
            out[name] = {f.name: copy.deepcopy(getattr(sec, f.name)) for f in fields(sec)}
        return out

    def to_yaml(self) -> str:
        """YAML text of to_dict()."""
        import yaml

        return yaml.safe_dump(self.to_dict(), sort_keys=False, default_flow_style=None, width=110)

    def make_space(self):
        """The SearchSpace of this preset."""
        from dcnas_deploy.space import SearchSpace

        sp = self.space
        return SearchSpace(width=sp.width, scale=sp.scale, hr_size=cast(Tuple[int, int], tuple(sp.hr_size)),
                           target_channels=sp.target_channels, guide_channels=sp.guide_channels)

    def with_overrides(self, overrides: Mapping[str, Any]) -> "Preset":
        """A new validated preset with 'section.key' values replaced (None values are ignored)."""
        d = self.to_dict()
        for path, value in overrides.items():
            if value is None:
                continue
            section, _, key = path.partition(".")
            if section not in SECTIONS or not key:
                raise ConfigError(f"override {path!r}: expected 'section.key' with section in {sorted(SECTIONS)}")
            d[section][key] = value
        return Preset.from_dict(d, source=f"{self.source or self.name} (with overrides)")

    def diff(self, other: "Preset", ignore: Tuple[str, ...] = ()) -> List[str]:
        """Key paths whose values differ ('training.lr: 0.0001 != 0.001'), skipping `ignore`."""
        a, b = self.to_dict(), other.to_dict()
        out = [] if a["task"] == b["task"] or "task" in ignore else [f"task: {a['task']!r} != {b['task']!r}"]
        for name in SECTIONS:
            for key in a[name]:
                path = f"{name}.{key}"
                if path not in ignore and a[name][key] != b[name][key]:
                    out.append(f"{path}: {a[name][key]!r} != {b[name][key]!r}")
        return out


def _build_section(cls_, raw: Mapping, section: str, errors: List[str]):
    """Instantiate one section, appending 'section.key: problem' lines to errors."""
    known = {f.name: f for f in fields(cls_)}
    kwargs = {}
    for key, value in raw.items():
        path = f"{section}.{key}"
        if key not in known:
            errors.append(f"{path}: unknown key (expected one of {sorted(known)})")
            continue
        f = known[key]
        default = f.default if f.default is not MISSING else f.default_factory()  # type: ignore[operator]
        try:
            kwargs[key] = _check_value(value, default, f.metadata, path)
        except ConfigError as exc:
            errors.append(str(exc))
    return cls_(**kwargs)


def _check_value(value: Any, default: Any, meta: Mapping, path: str) -> Any:
    """Coerce value to the default's type and check bounds/choices; ConfigError names the path."""
    kind = type(default)
    if kind is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{path}: expected true or false, got {value!r}")
    elif kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            else:
                raise ConfigError(f"{path}: expected an integer, got {value!r}")
    elif kind is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            try:
                value = float(str(value))  # YAML reads '1e-4' as a string
            except ValueError:
                raise ConfigError(f"{path}: expected a number, got {value!r}") from None
        value = float(value)
        if not math.isfinite(value):
            raise ConfigError(f"{path}: {value!r} is not a finite number; give a plain number like {default!r}")
    elif kind is str:
        if not isinstance(value, str):
            raise ConfigError(f"{path}: expected a string, got {value!r}")
    elif kind is list:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{path}: expected a list like {default}, got {value!r}")
        item = type(default[0]) if default else None
        try:
            value = [item(v) if item is float else v for v in value]
        except (TypeError, ValueError):
            raise ConfigError(f"{path}: expected a list of numbers, got {value!r}") from None
        if item is float and not all(math.isfinite(v) for v in value):
            raise ConfigError(f"{path}: {value!r} holds a value that is not a finite number")
    elif kind is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"{path}: expected a mapping like {default}, got {value!r}")
        value = {str(k): str(v) for k, v in value.items()}
    choices = meta.get("choices")
    if choices is not None and value not in choices:
        raise ConfigError(f"{path}: {value!r} is not one of {list(choices)}")
    lo, hi = meta.get("lo"), meta.get("hi")
    if lo is not None and (value <= lo if meta.get("lo_open") else value < lo):
        raise ConfigError(f"{path}: {value!r} is out of range (must be {'>' if meta.get('lo_open') else '≥'} {lo})")
    if hi is not None and value > hi:
        raise ConfigError(f"{path}: {value!r} is out of range (must be ≤ {hi})")
    return value


def check_cost_name(name: str) -> str:
    """'params', 'macs' or 'latency:DEVICE' (syntax only: the LUT is looked up when the cost is built)."""
    kind, sep, arg = str(name).partition(":")
    if kind in ("params", "macs") and not sep:
        return name
    if kind == "latency" and arg:
        return name
    raise ConfigError(f"unknown cost {name!r}; expected params, macs or latency:DEVICE")


def parse_budget(cost: str, budget: Any) -> float:
    """A budget string for a cost ('0.6M' params, '2G' MACs, '40ms' latency) → number (ms for latency)."""
    from dcnas_deploy.costs import parse_count, parse_latency

    return parse_latency(str(budget)) if str(cost).startswith("latency") else parse_count(str(budget))


# ---- files ---------------------------------------------------------------------------------

def profile_dirs() -> List[Path]:
    """Folders searched for named presets: $DCNAS_PROFILES entries, the user folder, the shipped profiles/ (datadirs)."""
    from dcnas_deploy.datadirs import search_dirs

    return search_dirs("profiles")


def known_presets() -> List[str]:
    """Names of all presets found."""
    names: Set[str] = set()
    for d in profile_dirs():
        if d.is_dir():
            names.update(p.stem for p in d.glob("*.yaml"))
    return sorted(names)


def preset_from_yaml(text: str | bytes, source: str) -> Preset:
    """Parse and validate preset YAML text (strict: UTF-8, no duplicate keys, not empty)."""
    from dcnas_deploy.fileio import parse_yaml_text

    return _preset_from_data(parse_yaml_text(text, source, "preset file"), source)


def load_preset_file(path: Path) -> Preset:
    """Read and validate one preset YAML file."""
    from dcnas_deploy.fileio import load_yaml_file

    return _preset_from_data(load_yaml_file(path, "preset file"), str(path))


def _preset_from_data(data: Any, source: str) -> Preset:
    """Preset.from_dict, refusing an empty document (it would silently be the built-in defaults)."""
    if data is None:
        raise ConfigError(f"{source} is empty: a preset needs at least its name and the sections it changes; "
                          f"start from one with `dcnas-deploy presets demo > my-preset.yaml`")
    return Preset.from_dict(data, source=source)


def load_preset(name_or_path: str) -> Preset:
    """A preset by name (profiles/<name>.yaml) or by path to a YAML file."""
    text = str(name_or_path)
    path = Path(text).expanduser()
    if text.endswith((".yaml", ".yml")) or os.sep in text:
        return load_preset_file(path)
    for d in profile_dirs():
        candidate = d / f"{text}.yaml"
        if candidate.is_file():
            return load_preset_file(candidate)
    raise ConfigError(f"unknown preset {text!r}; known: {', '.join(known_presets()) or '(none)'} "
                      f"(or give a path to a YAML preset)")
