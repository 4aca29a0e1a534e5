"""The public Python API: each step of the pipeline as one function taking a typed request, returning a typed result.

The CLI, the demo and every benchmark call these; nothing else builds a search, a retraining or a
card's figures. Example (a 40 ms model for ONNX Runtime on this CPU, from the shipped ×8 supernet)::

    from dcnas_deploy import api

    found = api.search(api.SearchRequest(supernet="supernet-x8", out="runs/x8/arch.yaml",
                                         latency=["40ms"], devices=["cpu"]))
    model = api.retrain(found.arch_path, "cpu-x8", "runs/x8/train", supernet="supernet-x8", steps=300)
    print(api.evaluate_model(model.model, {"middlebury": "middlebury:../shared/data/middlebury"}, limit=3))
    print(api.measure_speed(model.model, "cpu").fps)
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

from dcnas_deploy.errors import ConfigError
from dcnas_deploy.runtimes.protocol import Protocol

if TYPE_CHECKING:
    from dcnas_deploy.export.pipeline import ExportReport
    from dcnas_deploy.lut.table import LUT
    from dcnas_deploy.pipeline.benchmark import BenchmarkResult
    from dcnas_deploy.presets import Preset
    from dcnas_deploy.search.constraints import Constraint
    from dcnas_deploy.search.run import SearchOutcome
    from dcnas_deploy.space import Arch, SearchSpace

PathLike = Union[str, Path]
Note = Callable[[str], None]
BASELINES = ("bicubic", "guided-filter", "jbu")
"""The classical upsamplers every card and report scores beside the model."""


def _quiet(_: str) -> None:
    """Default note sink: say nothing."""


# ---- profile ------------------------------------------------------------------------------------------------------

def host_lut(device: str, space: SearchSpace, protocol: Protocol = Protocol(), *, allow_profile: bool = True,
             check_speed: bool = False, reprofile: bool = False, on_note: Note = _quiet, progress=None) -> LUT:
    """This host's LUT of `device` at `space`'s geometry: found, else measured now (notes say why).

    Example: ``api.host_lut("cpu", load_preset("cpu-x8").make_space(), on_note=print).batch_latency(genomes, space)``
    """
    from dcnas_deploy.lut.host_tables import ensure_host_lut

    return ensure_host_lut(device, space, protocol, allow_profile=allow_profile, check_speed=check_speed,
                           reprofile=reprofile, say=on_note, progress=progress)


# ---- supernet -----------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SupernetResult:
    """A trained (or resumed) supernet run."""

    run: Path
    steps: int
    val_start: Dict[str, float]
    val_end: Dict[str, float]
    seconds: float

    def to_dict(self) -> Dict[str, Any]:
        """Plain dict for stage records."""
        return {**asdict(self), "run": str(self.run)}


def train_supernet(preset: Union[str, Preset], run: PathLike) -> SupernetResult:
    """Train the preset's supernet into `run` (resumed from its checkpoint when there is one).

    Example: ``api.train_supernet("demo", "runs/supernet").val_end``
    """
    from dcnas_deploy.presets import load_preset
    from dcnas_deploy.train.supernet import train_supernet as _train

    p = load_preset(preset) if isinstance(preset, str) else preset
    run = Path(run)
    res = _train(p, run, resume=(run / "checkpoint.pt").is_file())
    assert res is not None  # one process: rank 0's summary
    return SupernetResult(run, int(res["steps"]), res["val_start"], res["val_end"], float(res["elapsed_s"]))


# ---- search -------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SearchRequest:
    """What to search for: budgets (latency per device, params, MACs) over a supernet's space."""

    supernet: PathLike
    """A `train-supernet` run folder or a shipped supernet's name (supernet-x8)."""
    out: PathLike = "arch.yaml"
    latency: Sequence[str] = ()
    """Latency budgets ('40ms', '0.04s'), one per entry of `devices`."""
    devices: Sequence[str] = ()
    """Device of each latency budget (default: cpu for a single budget)."""
    params: Optional[str] = None
    macs: Optional[str] = None
    hr: Optional[Tuple[int, int]] = None
    """Deployment HR size the LUT and MACs are costed at (default: the supernet's)."""
    strategy: Optional[str] = None
    """evolution+predictor | evolution | random; None: evolution+predictor when the supernet has a predictor."""
    predictor: Optional[PathLike] = None
    seed: int = 0
    population: Optional[int] = None
    iterations: Optional[int] = None
    verify: bool = True
    """Closed loop: measure the winners on each latency device before choosing."""
    verify_max: int = 10
    protocol: Protocol = field(default_factory=Protocol)
    strict_raw: bool = False
    allow_bicubic: bool = False
    allow_guide_blind: bool = False
    allow_emulated: bool = False
    """Hold latency budgets against tables measured under emulation (qemu) too: refused by default."""
    luts: Optional[Dict[str, PathLike]] = None
    """Device -> LUT file to hold budgets against; None: this host's table (profiled when missing)."""
    allow_profile: bool = True
    """Measure this host when no table of a latency device matches it (False: refuse, naming the command)."""


@dataclass(frozen=True)
class SearchResult:
    """The chosen architecture, its costs, the closed loop's measurements and the files written."""

    arch: Arch
    arch_path: Path
    genome: str
    val_rmse: float
    params: int
    macs: int
    strategy: str
    constraints: Dict[str, Dict[str, Any]]
    closed_loop: List[Dict[str, Any]]
    """Every candidate the closed loop measured (per device: LUT, measured, decided, budget)."""
    chosen_on_device: Dict[str, Dict[str, Any]]
    """The chosen candidate's closed-loop entry per latency device ({} with verify off or no latency budget)."""
    notes: List[str]
    files: Dict[str, Path]
    outcome: SearchOutcome

    def to_dict(self) -> Dict[str, Any]:
        """Plain dict for stage records (no Arch objects)."""
        return {"arch": str(self.arch_path), "genome": self.genome, "val_rmse": self.val_rmse, "params": self.params,
                "macs": self.macs, "strategy": self.strategy, "constraints": self.constraints,
                "closed_loop": self.closed_loop, "chosen_on_device": self.chosen_on_device, "notes": self.notes,
                "files": {k: str(v) for k, v in self.files.items()}}


def resolve_supernet_run(supernet: PathLike) -> Path:
    """A shipped supernet's name becomes its folder; a run folder must hold a checkpoint."""
    from dcnas_deploy.pretrained import resolve_supernet

    run = resolve_supernet(str(supernet))
    if not (run / "checkpoint.pt").is_file():
        raise ConfigError(f"supernet {supernet}: no checkpoint.pt in {run} (a `train-supernet` run folder or a "
                          f"shipped supernet's name)")
    return run


LutFor = Callable[[str, "SearchSpace", bool], Path]
"""(device, deployment space, reprofile) -> the LUT file a latency budget of that device is held against."""


def search(req: SearchRequest, *, on_note: Note = _quiet, on_iteration: Optional[Callable[[int, Any, int], None]] = None,
           on_budget: Optional[Callable[[Constraint], None]] = None, lut_for: Optional[LutFor] = None) -> SearchResult:
    """Search the supernet's space under the request's budgets (preset's when none), closed loop on each device.

    The predictor ranks candidates at the τ `predictor_tau` picks for these budgets (one rule for every caller).
    A table found stale while the closed loop checks it is measured again once and the search reruns from its
    cache. `on_iteration(iteration, log, iterations)` follows the search; `on_budget` sees each constraint before
    the search starts; `lut_for` finds (or measures) a device's table when `req.luts` does not name one (default:
    `host_lut`, reporting through `on_note`).

    Example: ``api.search(api.SearchRequest("supernet-x8", "arch.yaml", latency=["40ms"], devices=["cpu"])).genome``
    """
    from dcnas_deploy.lut.host_tables import StaleTable
    from dcnas_deploy.runtimes.devices import load_device
    from dcnas_deploy.search.constraints import DEFAULT_DEVICE, build_constraints, check_host_not_emulated
    from dcnas_deploy.search.evolution import SearchSettings
    from dcnas_deploy.search.inputs import load_supernet_inputs
    from dcnas_deploy.search.run import search_architecture
    from dcnas_deploy.space import SearchSpace

    run = resolve_supernet_run(req.supernet)
    for name in req.devices:
        load_device(name)  # an unknown device fails before the supernet loads
    inputs = load_supernet_inputs(run, req.predictor)
    sp = inputs.space
    deploy = SearchSpace(width=sp.width, scale=sp.scale, hr_size=(int(req.hr[0]), int(req.hr[1])) if req.hr else sp.hr_size,
                         target_channels=sp.target_channels, guide_channels=sp.guide_channels)
    s = inputs.preset.with_overrides({"search.population": req.population, "search.iterations": req.iterations}).search
    latency, devices, params, macs = list(req.latency), list(req.devices), req.params, req.macs
    if not (latency or params or macs):
        budgets = dict(s.constraints)
        latency = [v for k, v in budgets.items() if k.startswith("latency")]
        devices = [k.split(":", 1)[1] for k in budgets if k.startswith("latency")]
        params, macs = budgets.get("params"), budgets.get("macs")
        on_note(f"no budget given: using the preset's {budgets}")
    paired = devices or ([DEFAULT_DEVICE] if len(latency) == 1 else [])
    strategy = req.strategy or ("evolution+predictor" if inputs.predictor is not None else "evolution")
    sources = {"supernet": str(run)}
    if req.predictor is not None and strategy == "evolution+predictor":
        sources["predictor"] = str(req.predictor)
    def default_lut(name: str, space: SearchSpace, reprofile: bool) -> Path:
        return host_lut(name, space, req.protocol, allow_profile=req.allow_profile, check_speed=req.verify,
                        reprofile=reprofile, on_note=on_note).file

    find = lut_for or default_lut
    stale: Optional[str] = None
    for attempt in (1, 2):
        luts: Dict[str, Path] = {k: Path(v) for k, v in (req.luts or {}).items()}
        if latency and len(paired) == len(latency):  # otherwise build_constraints says what is wrong
            for name in paired:
                if name not in luts:
                    check_host_not_emulated(load_device(name), req.allow_emulated)  # before profiling, not after
                    luts[name] = find(name, deploy, load_device(name).name == stale)
        constraints = build_constraints(deploy, latency, devices, params, macs, luts=luts,
                                        allow_emulated=req.allow_emulated)
        if on_budget is not None and attempt == 1:
            for c in constraints:
                on_budget(c)
        try:
            settings = SearchSettings.from_section(s)
            follow = None if on_iteration is None else \
                (lambda it, log: on_iteration(it, log, settings.iterations))
            outcome = search_architecture(deploy, constraints, inputs.fitness, Path(req.out), settings,
                                          strategy, inputs.scorer_for(constraints), req.seed, req.verify,
                                          req.verify_max, req.protocol, sources, on_iteration=follow,
                                          fitness_key=inputs.fitness_key, strict_raw=req.strict_raw,
                                          allow_bicubic=req.allow_bicubic, allow_guide_blind=req.allow_guide_blind,
                                          on_note=on_note)
            break
        except StaleTable as exc:
            # a table profiled while the machine was busy, checked once it is quiet: measure it again, once
            if attempt == 2 or not req.allow_profile or req.luts:
                raise
            on_note(str(exc))
            stale = exc.device
    if outcome.stale_cache is not None:
        on_note(stale_cache_note(outcome))
    return _search_result(outcome, deploy, strategy)


def stale_cache_note(outcome: SearchOutcome) -> str:
    """Says that a cache scored with other weights or data was set aside, not reused."""
    return (f"the previous {outcome.files['evaluated'].name} was scored with another supernet or validation data; "
            f"it was moved to {outcome.stale_cache} and nothing in it was reused")


def _search_result(outcome: SearchOutcome, space: SearchSpace, strategy: str) -> SearchResult:
    """SearchResult of a finished search_architecture."""
    meta = outcome.arch.meta["search"]
    chosen = {}
    for t in outcome.verification.tried:
        if t["genome"] == outcome.arch.to_hex() and t.get("accepted"):
            chosen = t["devices"]
    notes = list(meta.get("closed_loop_notes") or [])
    if outcome.stale_cache is not None:
        notes.append(stale_cache_note(outcome))
    return SearchResult(outcome.arch, outcome.arch_path, outcome.arch.to_hex(), float(meta["val_rmse"]),
                        int(space.params(outcome.arch)), int(space.macs(outcome.arch)), strategy,
                        meta["constraints"], list(outcome.verification.tried), chosen, notes, outcome.files, outcome)


# ---- retrain ------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RetrainResult:
    """A trained architecture: its checkpoint and the training summary."""

    model: Path
    run: Path
    val_rmse: Optional[float]
    seconds: Optional[float]
    summary: Dict[str, Any]

    def to_dict(self) -> Dict[str, Any]:
        """Plain dict for stage records."""
        return {**{k: v for k, v in self.summary.items() if isinstance(v, (int, float, str, dict, list))},
                "model": str(self.model), "run": str(self.run), "val_rmse": self.val_rmse, "seconds": self.seconds}


def retrain(arch: Union[PathLike, Arch], preset: Union[str, Preset], run: PathLike, *, init: str = "supernet",
            supernet: Optional[PathLike] = None, steps: Optional[int] = None, progress: bool = True) -> RetrainResult:
    """Train `arch` with the preset's `retrain` section (from its supernet weights by default); resumes a run.

    Example: ``api.retrain("arch.yaml", "cpu-x8", "runs/train", supernet="supernet-x8", steps=300).model``
    """
    from dcnas_deploy.presets import load_preset
    from dcnas_deploy.space import Arch
    from dcnas_deploy.train.retrain import train_arch

    a = arch if isinstance(arch, Arch) else Arch.from_yaml(Path(arch))
    p = load_preset(preset) if isinstance(preset, str) else preset
    if steps is not None:
        p = p.with_overrides({"retrain.steps": steps})
    sup = resolve_supernet_run(supernet) if supernet is not None else None
    if init == "supernet" and sup is None:
        raise ConfigError("retrain with init='supernet' needs the supernet the architecture was searched in")
    run = Path(run)
    res = train_arch(a, p, run, init=init, supernet=sup, resume=(run / "checkpoint.pt").is_file(), progress=progress)
    assert res is not None  # one process: rank 0's summary
    return RetrainResult(Path(res["model"]), run, res.get("val_rmse"), res.get("elapsed_s"), dict(res))


def inherit(arch: Union[PathLike, Arch], supernet: PathLike, out: PathLike) -> Path:
    """Save `arch` with its supernet's weights as they are (no retraining) as a model.pt usable like a trained one.

    Example: ``api.inherit("arch.yaml", "supernet-x8", "runs/inherited/model.pt")``
    """
    from dcnas_deploy.model.checkpoint import save_model
    from dcnas_deploy.space import Arch
    from dcnas_deploy.train.supernet import load_supernet

    a = arch if isinstance(arch, Arch) else Arch.from_yaml(Path(arch))
    net, preset = load_supernet(resolve_supernet_run(supernet))
    d = preset.data
    meta = {"norm": d.norm, "scale": net.space.scale, "data": d.spec, "preset": preset.name, "task": preset.task,
            "steps": 0, "init": "supernet", "supernet": str(supernet)}
    return save_model(Path(out), net.materialize(a), meta)


# ---- evaluate -----------------------------------------------------------------------------------------------------

CARD_SETS = {"middlebury": "middlebury:{mb}", "middlebury_sensor_lr": "sensorlr:middlebury:{mb}",
             "synthetic": "synthetic:n=24,size=256"}
"""The sets a shipped model's card scores it on ({mb}: the Middlebury folder)."""


def evaluate_model(model: PathLike, datasets: Mapping[str, str], scale: Optional[int] = None,
                   baselines: Sequence[str] = BASELINES, limit: Optional[int] = None,
                   on_dataset: Optional[Callable[[str, Any, Dict[str, Any]], None]] = None) -> Dict[str, Dict[str, Any]]:
    """Score `model` (a checkpoint or shipped name) as 'ours' beside the baselines on each dataset (test split).

    Example: ``api.evaluate_model("depth-x8", {"mb": "middlebury:../shared/data/middlebury"})["mb"]["ours"]["rmse"]``
    """
    return evaluate_models({"ours": model}, datasets, scale, baselines, limit, on_dataset)


def evaluate_models(models: Mapping[str, PathLike], datasets: Mapping[str, str], scale: Optional[int] = None,
                    baselines: Sequence[str] = BASELINES, limit: Optional[int] = None,
                    on_dataset: Optional[Callable[[str, Any, Dict[str, Any]], None]] = None,
                    guide_bands: Optional[int] = None, save_images: Optional[Path] = None) -> Dict[str, Dict[str, Any]]:
    """Score each named model (checkpoint or shipped name) and the baselines on each named dataset (test split).

    Returns {set: {"data", "images", "unit", name: {rmse, mae, psnr, ...}}}; `on_dataset(set, dataset, upsamplers)`
    is called with each opened set (e.g. to draw a comparison grid). `scale`: the first model's when None.
    `guide_bands`: the task's guide bands for the baselines (1 for a PAN guide); `save_images`: side-by-side PNGs
    of the first model there.
    """
    from dcnas_deploy.data.evaluation import evaluate
    from dcnas_deploy.data.registry import open_dataset
    from dcnas_deploy.upsamplers import create_upsampler

    if scale is None:
        scale = model_scale(next(iter(models.values())))
    bands = {} if guide_bands is None else {"guide_bands": guide_bands}
    ups = {**{n: create_upsampler(str(m), scale, **bands) for n, m in models.items()},
           **{b: create_upsampler(b, scale, **bands) for b in baselines}}
    out: Dict[str, Dict[str, Any]] = {}
    for key, spec in datasets.items():
        ds = open_dataset(spec, split="test", limit=limit)
        rows: Dict[str, Any] = {"data": spec, "images": len(ds), "unit": ds.protocol.unit}
        for i, (name, up) in enumerate(ups.items()):
            save = save_images if i == 0 else None
            m = evaluate(up, ds, scale, model_name=name, dataset_name=key, save_images=save).mean()
            rows[name] = {k: round(float(v), 4) for k, v in m.items()}
        out[key] = rows
        if on_dataset is not None:
            on_dataset(key, ds, ups)
    return out


def _model_path(model: PathLike) -> Path:
    """A checkpoint path, or a shipped model's name resolved to its model.pt (card checked)."""
    from dcnas_deploy.pretrained import resolve_model

    return Path(resolve_model(str(model)))


def model_scale(model: PathLike) -> int:
    """The upscaling factor of a checkpoint or shipped model."""
    from dcnas_deploy.model.checkpoint import load_model

    net, _ = load_model(_model_path(model))
    return int(net.space.scale)


# ---- speed --------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Speed:
    """A model's end-to-end latency on a device, as a card records it."""

    device: str
    runtime: str
    threads: int
    hr: Tuple[int, int]
    median_ms: float
    p10_ms: float
    p90_ms: float
    fps: float
    host: str
    """The host's fingerprint key (lut.host_tables.host_key) — where this was measured."""
    cpu: str
    date: str
    command: str

    def to_dict(self) -> Dict[str, Any]:
        """Plain dict for a card."""
        return {**asdict(self), "hr": list(self.hr)}


def benchmark(model: PathLike, device: str, hr: Optional[Tuple[int, int]] = None, protocol: Protocol = Protocol(),
              reference_lut: Optional[PathLike] = None) -> BenchmarkResult:
    """Time a model file, checkpoint, shipped name or arch.yaml end to end on `device` (what `benchmark` does).

    Example: ``api.benchmark("depth-x8", "cpu-openvino").timing.median_ms``
    """
    from dcnas_deploy.pipeline.benchmark import benchmark as run_benchmark
    from dcnas_deploy.runtimes.devices import load_device

    return run_benchmark(_model_path(model), load_device(device), protocol, options={"hr_size": tuple(hr) if hr else None},
                         reference_lut=Path(reference_lut) if reference_lut else None)


def measure_speed(model: PathLike, device: str, hr: Optional[Tuple[int, int]] = None,
                  protocol: Protocol = Protocol()) -> Speed:
    """Time `model` (checkpoint or shipped name) end to end on `device` in the graph that device's export runs.

    Example: ``api.measure_speed("depth-x8-40ms-ort", "cpu").fps``
    """
    from dcnas_deploy.export.bench_input import checkpoint_module
    from dcnas_deploy.lut.host_tables import host_key
    from dcnas_deploy.runtimes.fingerprint import device_fingerprint

    path = _model_path(model)
    r = benchmark(path, device, hr, protocol)
    _, inputs = checkpoint_module(path, {"hr_size": hr})
    size = (int(inputs[1].shape[-2]), int(inputs[1].shape[-1]))  # the guide's HR size, as timed
    t, profile = r.timing, r.device
    fp = device_fingerprint(profile, r.host)
    hw = f"{size[0]}x{size[1]}"
    return Speed(profile.name, f"{profile.runtime} {r.host.get('runtimes', {}).get(profile.runtime, '')}".strip(),
                 int(profile.threads), size, round(t.median_ms, 3), round(t.p10_ms, 3),
                 round(t.p90_ms, 3), round(1000.0 / t.median_ms, 2), host_key(fp),
                 str(fp.get("cpu_name") or ""), r.date, f"dcnas-deploy benchmark {model} --device {profile.name} --hr {hw}")


# ---- export -------------------------------------------------------------------------------------------------------

def export(model: PathLike, out: PathLike, targets: str = "all", precisions: str = "fp32", data: str = "",
           hr: Optional[Tuple[int, int]] = None, latency: Optional[Protocol] = Protocol()) -> ExportReport:
    """Export a checkpoint or shipped model to each target format and precision, reload every file in its runtime
    and check it against PyTorch (`data`: the images checked on; '' = the task's procedural scenes).

    Example: ``api.export("depth-x8", "runs/export", targets="tflite,onnx", precisions="fp32,int8").ok``
    """
    from dcnas_deploy.export.formats import parse_precisions, parse_targets
    from dcnas_deploy.export.pipeline import ExportSettings, export_checkpoint

    settings = ExportSettings(formats=parse_targets(targets), precisions=parse_precisions(precisions),
                              out_dir=Path(out), hr_size=(int(hr[0]), int(hr[1])) if hr else None, data=data,
                              latency=latency)
    return export_checkpoint(_model_path(model), settings)
