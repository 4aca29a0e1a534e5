"""`dcnas-deploy demo`: profile → supernet → search → retrain → export → benchmark → evaluate → report.

Each stage leaves a record under OUT/stages/; a second run reuses finished stages. Every number in
the report is read from those records, i.e. measured by this run (or by the earlier run it resumed).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

import numpy as np

from dcnas_deploy.demo.report import EVAL_SYNTHETIC
from dcnas_deploy.datadirs import MIDDLEBURY
from dcnas_deploy.pipeline.stages import Stages
from dcnas_deploy.runtimes.protocol import CALIBRATION_NETWORKS

BENCH_DEVICES = ("cpu", "cpu-openvino", "cpu-tflite", "cpu-torch")


@dataclass
class DemoSettings:
    """What `demo` runs; the defaults are what `make demo` does."""

    out: Path = Path("runs/demo")
    preset: str = "demo"
    device: str = "cpu"
    calibrate: int = CALIBRATION_NETWORKS
    budget_percentile: float = 50.0
    """The latency budget: this percentile of the space's LUT latency over random paths."""
    quick: bool = False
    """Smoke-test timing protocol (tests only): numbers are then not meaningful and the report says so."""
    eval_images: int = 6
    middlebury: Optional[Path] = field(default_factory=lambda: MIDDLEBURY if (MIDDLEBURY / "Depth").is_dir() else None)
    force: bool = False
    no_profile: bool = False
    """Refuse instead of profiling when no LUT of the device was measured on this host (or it is stale)."""
    supernet: str = "auto"
    """'auto': start from the shipped supernet of the preset's search space when there is one (search + short
    fine-tune), else train one; 'train': always train one; or the path of a `train-supernet` run to start from."""


def run_demo(s: DemoSettings, log: Callable[[str], None] = print) -> Path:
    """Run (or resume) every stage and write OUT/report.md and OUT/report.html; returns the report path."""
    from dcnas_deploy.presets import load_preset
    from dcnas_deploy.runtimes.devices import load_device
    from dcnas_deploy.runtimes.protocol import QUICK, Protocol

    preset = load_preset(s.preset)
    load_device(s.device)  # an unknown device fails before anything is written
    out = Path(s.out)
    out.mkdir(parents=True, exist_ok=True)
    protocol = QUICK if s.quick else Protocol()
    stages = Stages(out, s.force, log)
    base = {"preset": preset.to_dict(), "device": s.device, "quick": s.quick}

    lut = stages.run("profile", {**base, "calibrate": s.calibrate},
                     lambda: _profile(preset, s.device, out, s.calibrate, protocol, s.quick, s.no_profile, log))
    start = _supernet_source(preset, s.supernet)
    sup = stages.run("supernet", {**base, "start": str(start or "train")},
                     lambda: _supernet(preset, out) if start is None else _given_supernet(start))
    run = Path(sup["run"])
    found = stages.run("search", {**base, "lut": lut, "budget_percentile": s.budget_percentile, "supernet": str(run)},
                       lambda: _search(out, run, s.device, lut, s.budget_percentile, protocol, log))
    final = stages.run("retrain", {**base, "arch": found["genome"]}, lambda: _retrain(preset, out, run))
    exp = stages.run("export", {**base, "model": final["model"], "mb": str(s.middlebury)},
                     lambda: _export(preset, out, final, protocol, s.middlebury))
    stages.run("benchmark", {**base, "export": exp["files"]},
               lambda: _benchmark(exp, found, out, protocol))
    stages.run("evaluate", {**base, "model": final["model"], "mb": str(s.middlebury), "n": s.eval_images},
               lambda: _evaluate(preset, final, out, s.eval_images, s.middlebury))
    from dcnas_deploy.demo.report import write_report

    return write_report(out, s, stages.results, stages.seconds())


# ---- stages --------------------------------------------------------------------------------------

def _profile(preset, device: str, out: Path, calibrate: int, protocol, quick: bool, no_profile: bool = False,
             log: Callable[[str], None] = print) -> Dict[str, Any]:
    """This host's LUT of the device at the preset's geometry (found among every host's tables, else measured;
    `no_profile` refuses instead); --quick runs measure their own table into OUT/luts."""
    from dcnas_deploy.lut.host_tables import ensure_host_lut
    from dcnas_deploy.lut.profiler import profile_device, reference_summary
    from dcnas_deploy.lut.table import default_lut_path, safe_name
    from dcnas_deploy.runtimes.devices import load_device

    space = preset.make_space()
    why: List[str] = []
    if quick:
        why.append("--quick runs measure their own table")
        profile = load_device(device)
        lut = profile_device(profile, space, default_lut_path(safe_name(profile.name), space, folder=out / "luts"),
                             calibrate=calibrate, protocol=protocol)
    else:
        def say(line: str) -> None:
            why.append(line)
            log(f"[profile] {line}")

        lut = ensure_host_lut(device, space, protocol, allow_profile=not no_profile, check_speed=True,
                              calibrate=calibrate, say=say)
    reused = not why
    lat = lut.batch_latency(space.sample_genomes(10000, seed=0), space)
    e = lut.calibration.errors if lut.calibration else {}
    return {"lut": str(lut.path), "reused": reused, "ops": len(lut.ops), "calibration_errors": e,
            "reuse_note": "" if reused else f"Profiled this host instead of reusing a table: {'; '.join(why)}",
            "reference": reference_summary(lut),
            "calibration_networks": len(lut.calibration.records) if lut.calibration else 0,
            "space_latency_ms": {"p25": float(np.percentile(lat, 25)), "median": float(np.median(lat)),
                                 "p75": float(np.percentile(lat, 75))},
            "profiling_seconds": lut.provenance.get("profiling_seconds"), "host": lut.provenance.get("host", {}),
            "runtime": lut.provenance.get("runtime"), "runtime_version": lut.provenance.get("runtime_version"),
            "scatter": str(lut.path.with_suffix(".calibration.png"))}  # type: ignore[union-attr]  # loaded or saved


def _supernet_source(preset, choice: str) -> Optional[Path]:
    """The supernet run the demo starts from (None: train one), per DemoSettings.supernet."""
    from dcnas_deploy.errors import ConfigError

    if choice == "train":
        return None
    if choice == "auto":
        from dcnas_deploy.pretrained import supernet_for_space

        return supernet_for_space(preset.to_dict()["space"])
    run = Path(choice)
    if not (run / "checkpoint.pt").is_file():
        raise ConfigError(f"--supernet {run}: no checkpoint.pt there; give auto, train or a train-supernet run folder")
    return run


def _given_supernet(run: Path) -> Dict[str, Any]:
    """The record of a supernet the demo did not train (shipped or given): what its card or log says."""
    import yaml

    from dcnas_deploy.train.rundir import RunDir

    card_path = run / "card.yaml"
    card = yaml.safe_load(card_path.read_text()) if card_path.is_file() else {}
    val = card.get("val", {})
    return {"run": str(run), "given": card.get("name", str(run)), "steps": card.get("step") or
            RunDir(run).load_checkpoint().get("step"), "val_start": val.get("start"), "val_end": val.get("end"),
            "seconds": 0.0, "made_by": card.get("made_by", "")}


def _supernet(preset, out: Path) -> Dict[str, Any]:
    from dcnas_deploy import api

    return api.train_supernet(preset, out / "supernet").to_dict()


def _search(out: Path, run: Path, device: str, lut: Dict[str, Any], percentile: float, protocol,
            log: Callable[[str], None]) -> Dict[str, Any]:
    from dcnas_deploy import api
    from dcnas_deploy.lut.table import LUT

    table = LUT.load(lut["lut"])
    space = table.space()  # the preset's geometry: the demo profiled it
    latency = table.batch_latency(space.sample_genomes(10000, seed=0), space)
    budget = float(np.percentile(latency, percentile))
    res = api.search(api.SearchRequest(supernet=run, out=out / "arch.yaml", latency=[f"{budget}ms"], devices=[device],
                                       protocol=protocol, luts={device: lut["lut"]}), on_note=log)
    return {**res.to_dict(), "budget_ms": budget, "budget_percentile": percentile,
            "evaluated": res.arch.meta["search"]["evaluated"]}


def _retrain(preset, out: Path, supernet: Path) -> Dict[str, Any]:
    from dcnas_deploy import api

    return api.retrain(out / "arch.yaml", preset, out / "final", supernet=supernet).to_dict()


def _export(preset, out: Path, final: Dict[str, Any], protocol, middlebury: Optional[Path]) -> Dict[str, Any]:
    """Every format in fp32, each checked against PyTorch on Middlebury pairs when present, else procedural scenes."""
    from dcnas_deploy import api

    data = f"middlebury:{middlebury}" if middlebury is not None else EVAL_SYNTHETIC
    report = api.export(final["model"], out / "export", "all", "fp32", data=data, latency=protocol)
    d = report.to_dict()
    return {"ok": report.ok, "rows": d["rows"], "unit": d["unit"], "data": d["data"],
            "files": [r["path"] for r in d["rows"] if r.get("path")]}


def _benchmark(exp: Dict[str, Any], found: Dict[str, Any], out: Path, protocol) -> Dict[str, Any]:
    """Each exported file on the local device profile whose runtime loads it, plus eager PyTorch."""
    from dcnas_deploy import api
    from dcnas_deploy.errors import DcnasError
    from dcnas_deploy.runtimes.devices import load_device
    from dcnas_deploy.runtimes.table import RUNTIMES

    rows: List[Dict[str, Any]] = []
    for device in BENCH_DEVICES:
        profile = load_device(device)
        files = [f for f in exp["files"] if Path(f).suffix in RUNTIMES[profile.runtime].loads
                 and not (profile.runtime == "openvino" and Path(f).suffix == ".onnx")]
        target = files[0] if files else (found["arch"] if profile.runtime == "torch" else None)
        if target is None:
            continue
        try:
            r = api.benchmark(target, device, protocol=protocol)
            rows.append({"device": device, "runtime": f"{profile.runtime} {r.host.get('runtimes', {}).get(profile.runtime, '')}",
                         "input": target, **r.timing.to_dict()})
        except DcnasError as exc:
            rows.append({"device": device, "runtime": profile.runtime, "input": target, "error": str(exc)})
    return {"rows": rows}


def _evaluate(preset, final: Dict[str, Any], out: Path, n: int, middlebury: Optional[Path]) -> Dict[str, Any]:
    """Baselines and the found model on synthetic test scenes (and Middlebury when present)."""
    from dcnas_deploy import api
    from dcnas_deploy.demo.report import comparison_grid

    scale = preset.space.scale
    sets = {"synthetic": EVAL_SYNTHETIC, **({"middlebury": f"middlebury:{middlebury}"} if middlebury else {})}
    grids: Dict[str, str] = {}

    def grid(name: str, ds, ups) -> None:
        grids[name] = str(comparison_grid(ups, ds, scale, out / f"comparison-{name}.png"))

    scores = api.evaluate_model(final["model"], sets, scale, limit=n, on_dataset=grid)
    table = {d: {m: v for m, v in rows.items() if isinstance(v, dict)} for d, rows in scores.items()}
    return {"scale": scale, "metrics": table, "grids": grids,
            "units": {d: f"RMSE/MAE in {rows['unit']}" for d, rows in scores.items()}}
