"""Export a trained model to every requested (format, precision), check each file, and report one table.

Per row, in its own try/except: convert (formats.FORMATS → converters) → embed metadata + sidecar →
reload in its runtime (`runtimes.sessions.load_session`) → run the real check images → compare with PyTorch
and the ground truth (accuracy.compare) → gates → median latency in the local runtime. A failing row
never stops the others; the report says whether every requested check passed.
`export_status.json` is marked in progress before any file changes and rewritten after each file settles,
keeping earlier rows whose files are still there (export.status), so it never describes files that are gone.
"""
from __future__ import annotations

import datetime as _dt
import json
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np
import torch

from dcnas_deploy.errors import ConfigError, warn
from dcnas_deploy.export.accuracy import Gates, compare
from dcnas_deploy.export.artefacts import discard, promote, staged_path
from dcnas_deploy.export.deployable import Deployable
from dcnas_deploy.export.formats import FILE_PRECISIONS, ExportFormat
from dcnas_deploy.export.samples import ExportData, graph_inputs, graph_output_to_image, load_export_data
from dcnas_deploy.export.status import (COMPLETE, EXPORT_FAILED, FAILED_CHECK, IN_PROGRESS, PASSED, REFERENCE,
                                        STATUS_FILE, UNSUPPORTED, StatusRow, file_sha256, merge_rows, read_status)
from dcnas_deploy.fileio import atomic_write_text
from dcnas_deploy.model.litert_forms import litert_rewrites
from dcnas_deploy.runtimes.protocol import Protocol

HW = Tuple[int, int]
Progress = Callable[[str], None]


@dataclass
class ExportSettings:
    """Everything an export run needs besides the model."""

    formats: List[ExportFormat]
    precisions: List[str]
    out_dir: Path
    hr_size: Optional[HW] = None
    """HR geometry of the exported graph; None: the model's search-space default."""
    nhwc: bool = False
    """NHWC inputs/outputs for formats that support it (TFLite)."""
    data: str = ""
    """Dataset spec of the check/calibration images; '' = the procedural data of the model's task."""
    n_check: int = 8
    n_calib: int = 32
    gates: Gates = field(default_factory=Gates)
    threads: int = 2
    latency: Optional[Protocol] = Protocol()
    """Latency protocol; None skips timing."""
    seed: int = 0
    stem: str = "model"
    onnx_int8: str = "u8s8-reduced"
    """ONNX int8 scheme (converters.ONNX_INT8_SCHEMES); the default is correct on every CPU."""


@dataclass
class ExportReport:
    """The status rows and what they were measured on."""

    rows: List[StatusRow]
    settings: Dict[str, Any]
    data: str
    unit: str
    model: Dict[str, Any]
    host: Dict[str, Any]
    date: str
    kept: List[str] = field(default_factory=list)
    """What happened to files of earlier exports and to artefacts that did not pass (one line each)."""

    @property
    def ok(self) -> bool:
        """True when every requested check passed."""
        return all(r.ok for r in self.rows)

    def to_dict(self) -> Dict[str, Any]:
        """JSON-safe dict."""
        return {"ok": self.ok, "rows": [r.to_dict() for r in self.rows], "settings": self.settings,
                "data": self.data, "unit": self.unit, "model": self.model, "host": self.host, "date": self.date,
                "kept": self.kept}


def feeds_for(session, lr: np.ndarray, guide: np.ndarray) -> Dict[str, np.ndarray]:
    """Map (lr, guide) onto a session's inputs: by name, else by shape, else by order."""
    specs = list(session.inputs)
    if len(specs) != 2:
        raise ConfigError(f"model has {len(specs)} inputs {[s.name for s in specs]}; expected 2 (lr, guide)")
    names = [s.name for s in specs]
    if set(names) == {"lr", "guide"}:
        return {"lr": lr, "guide": guide}

    def fits(spec, arr) -> bool:
        return len(spec.shape) == arr.ndim and all(d is None or d == a for d, a in zip(spec.shape, arr.shape))

    if fits(specs[0], lr) and fits(specs[1], guide) and not (fits(specs[0], guide) and fits(specs[1], lr)):
        return {names[0]: lr, names[1]: guide}
    if fits(specs[0], guide) and fits(specs[1], lr):
        return {names[0]: guide, names[1]: lr}
    return {names[0]: lr, names[1]: guide}


def _size_mb(path: Path) -> float:
    files = [path] + ([path.with_suffix(".bin")] if path.suffix == ".xml" else [])
    return sum(p.stat().st_size for p in files if p.exists()) / 1e6


def _error_text(exc: BaseException) -> str:
    msg = str(exc).strip().splitlines()
    head = msg[0] if msg else ""
    return f"{type(exc).__name__}: {head[:300]}"


def _torch_outputs(module: Deployable, data: ExportData) -> List[np.ndarray]:
    with torch.no_grad():
        outs = []
        for t in data.check:
            lr, guide = graph_inputs(t, nhwc=False)
            outs.append(graph_output_to_image(module(torch.from_numpy(lr), torch.from_numpy(guide)).numpy(), False))
    return outs


def task_data(meta: Dict[str, Any], target_channels: int = 1) -> str:
    """The procedural data of the task a checkpoint was trained for (depth for checkpoints without one)."""
    from dcnas_deploy.tasks import get_task

    task = get_task(str(meta.get("task", "depth")))
    return task.procedural + (f":bands={target_channels}" if task.target_band_choices else "")


def _check_bands(data: ExportData, space) -> None:
    """ConfigError naming both when the check images' bands are not the model's."""
    t = data.check[0]
    from dcnas_deploy.data.sample import band_counts

    found = band_counts(t.lr, t.guide)
    if found != (space.target_channels, space.guide_channels):
        raise ConfigError(f"check images ({data.description}) have a {found[0]}-band target and a {found[1]}-band "
                          f"guide; the model takes {space.target_channels} and {space.guide_channels}: give --data "
                          "with the model's bands")


def _model_info(module: Deployable, meta: Dict[str, Any], source: str, sha256: str) -> Dict[str, Any]:
    sub = module.subnet
    info = {"source": source, "sha256": sha256, "norm": module.norm, "scale": int(sub.space.scale),
            "train_meta": dict(meta)}
    if getattr(sub, "arch", None) is not None:
        info["arch"] = sub.arch.to_dict()
        info["space"] = sub.space.to_dict()
    return info


def export_rows(module: Deployable, meta: Dict[str, Any], settings: ExportSettings, source: str = "",
                data: Optional[ExportData] = None, progress: Optional[Progress] = None) -> ExportReport:
    """Export `module` (a float NCHW Deployable) per settings; returns the report (also saved as JSON)."""
    from dcnas_deploy.export.converters import ConvertJob, int8_host_note, quantization_metadata
    from dcnas_deploy.export.metadata import build_metadata, embed, write_sidecar
    from dcnas_deploy.runtimes.backends import time_module
    from dcnas_deploy.runtimes.sessions import time_session
    from dcnas_deploy.runtimes.host import host_info

    step = progress or (lambda _msg: None)
    module = module.eval()
    space = module.subnet.space
    hr = space.check_hr(settings.hr_size or space.hr_size)
    scale, bands = int(space.scale), int(space.target_channels)
    bad = [p for p in settings.precisions if p not in FILE_PRECISIONS]
    if bad:
        raise ConfigError(f"unknown precision(s) {bad}; known: {list(FILE_PRECISIONS)}")
    out_dir = Path(settings.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    sha256 = file_sha256(source) if source and Path(source).is_file() else ""
    if data is None:
        step("loading check and calibration images")
        need_calib = settings.n_calib if "int8" in settings.precisions else 0
        data = load_export_data(settings.data or task_data(meta, bands), hr, scale, settings.n_check, need_calib,
                                settings.seed)
    _check_bands(data, space)
    torch_out = _torch_outputs(module, data)
    gts = [t.hr for t in data.check]
    names = [t.name for t in data.check]
    model_info = _model_info(module, meta, source, sha256)
    rows: List[StatusRow] = []
    kept: List[str] = []

    ref = StatusRow("pytorch", "fp32", REFERENCE, runtime=f"torch {torch.__version__} eager",
                    rmse_torch=float(np.mean([_rmse(o, g, data.protocol) for o, g in zip(torch_out, gts)])),
                    note="the model the files are compared with", model_sha256=sha256)
    if settings.latency is not None:
        step("timing PyTorch eager")
        lr0, guide0 = graph_inputs(data.check[0], nhwc=False)
        timing = time_module(module, (torch.from_numpy(lr0), torch.from_numpy(guide0)),
                             {"threads": settings.threads}, settings.latency)
        ref.latency_ms, ref.timing = timing.median_ms, timing.to_dict()
    rows.append(ref)
    earlier = _earlier_rows(out_dir)
    _save_status(out_dir, {"state": IN_PROGRESS, "model": model_info, "date": _now()}, rows, earlier)  # before
    # any file changes: a run stopped from here on leaves a status that says so and still fits the files

    for fmt in settings.formats:
        nhwc = bool(settings.nhwc and fmt.nhwc)
        graph = Deployable(module.subnet, module.norm, nhwc).eval() if nhwc else module
        for precision, plain in ((p, plain) for p in settings.precisions for plain in (False, True)):
            if plain:
                if not _plain_retry(rows[-1], fmt, graph):
                    continue
                rows.pop()  # the row of the file with LiteRT forms: this attempt replaces it
            row = StatusRow(fmt.name, precision, EXPORT_FAILED, runtime=fmt.runtime, model_sha256=sha256)
            rows.append(row)
            if precision in fmt.unsupported:
                row.status, row.error = UNSUPPORTED, fmt.unsupported[precision]
                continue
            final = fmt.artefact_path(out_dir, settings.stem, precision)
            path = staged_path(final, "new")  # replaces `final` only once it passes (export.artefacts)
            discard(path)
            row.path = str(path)
            step(f"{fmt.name} {precision}: converting")
            try:
                convert = fmt.converter(precision)
                feeds = [graph_inputs(t, nhwc) for t in data.calibration] if precision == "int8" else []
                example = tuple(torch.from_numpy(a) for a in graph_inputs(data.check[0], nhwc))
                t0 = time.perf_counter()
                convert(ConvertJob(graph, example, path, feeds, settings.onnx_int8, plain_forms=plain), precision)
                row.convert_s = round(time.perf_counter() - t0, 2)
                fmeta = build_metadata(
                    arch=model_info.get("arch", {}), space=model_info.get("space", {}), scale=scale,
                    norm=module.norm, layout="NHWC" if nhwc else "NCHW", precision=precision, fmt=fmt.name,
                    runtime=fmt.runtime, hr_size=hr, inputs={"lr": list(example[0].shape),
                                                            "guide": list(example[1].shape)},
                    output=[1, hr[0], hr[1], bands] if nhwc else [1, bands, hr[0], hr[1]], source=source,
                    source_sha256=sha256, train_meta=meta,
                    quantization=quantization_metadata(fmt.name, precision, settings.onnx_int8))
                embed(path, fmeta)
                write_sidecar(path, fmeta)
            except Exception as exc:  # each row its own status; the others go on
                row.status, row.error = EXPORT_FAILED, _error_text(exc)
                row.note = _last_frame(exc)
                discard(path)
                row.path = ""
                if final.exists():
                    kept.append(f"{fmt.name} {precision}: export failed; {final} from an earlier export is unchanged")
                continue
            row.size_mb = round(_size_mb(path), 3)
            step(f"{fmt.name} {precision}: checking")
            session = None
            try:
                session, row.note = fmt.load(path, precision, settings.threads)
                row.note = "; ".join(n for n in (row.note, int8_host_note(fmt.name, precision, settings.onnx_int8)) if n)
                outs = []
                for t in data.check:
                    lr, guide = graph_inputs(t, nhwc)
                    outs.append(graph_output_to_image(session.run(feeds_for(session, lr, guide))[0], nhwc))
                result = compare(outs, torch_out, gts, data.protocol, names)
                verdict = settings.gates.judge(result, precision)
                row.psnr_db, row.max_abs = result.psnr_db, result.max_abs
                row.rmse_torch, row.rmse_file = result.rmse_torch, result.rmse_file
                row.rmse_increase_pct = result.rmse_increase_pct
                row.per_image = result.to_dict()["per_image"]
                row.failures = verdict.failures
                row.status = PASSED if verdict.passed else FAILED_CHECK
                if settings.latency is not None:
                    step(f"{fmt.name} {precision}: timing")
                    lr, guide = graph_inputs(data.check[0], nhwc)
                    timing = time_session(session, settings.latency, feeds_for(session, lr, guide))
                    row.latency_ms, row.timing = timing.median_ms, timing.to_dict()
            except Exception as exc:
                row.status, row.error = FAILED_CHECK, f"reload/run failed: {_error_text(exc)}"
            finally:
                if session is not None:
                    session.close()
            if plain:
                row.note = "; ".join(n for n in (row.note, "ops as in PyTorch (the LiteRT forms failed the check)") if n)
            elif _plain_retry(row, fmt, graph):
                discard(path)
                warn(f"{fmt.name} {precision}: the file with LiteRT forms of {', '.join(litert_rewrites(graph))} "
                     f"gave PSNR {row.psnr_db} dB vs PyTorch ({'; '.join(row.failures)}); "
                     "converting those ops as they are")
                continue
            row.path = str(_settle(path, final, row.status == PASSED, f"{fmt.name} {precision}", kept))
            _save_status(out_dir, {"state": IN_PROGRESS, "model": model_info, "date": _now()}, rows, earlier)

    runtimes = sorted({f.runtime for f in settings.formats})
    report = ExportReport(
        rows=rows,
        settings={"targets": [f.name for f in settings.formats], "precisions": list(settings.precisions),
                  "hr_size": list(hr), "nhwc": settings.nhwc, "data": settings.data, "n_check": len(data.check),
                  "n_calib": len(data.calibration), "gates": settings.gates.to_dict(), "threads": settings.threads,
                  "latency_protocol": settings.latency.to_dict() if settings.latency else None,
                  "onnx_int8": settings.onnx_int8,
                  "out_dir": str(out_dir)},
        data=data.description, unit=getattr(data.protocol, "unit", ""), model=model_info,
        host=host_info(runtimes, settings.threads),
        date=_now(), kept=kept)
    _save_status(out_dir, {**report.to_dict(), "state": COMPLETE}, rows, earlier)
    return report


def _plain_retry(row: StatusRow, fmt: ExportFormat, graph: Deployable) -> bool:
    """Whether a TFLite row that failed its check had ops in LiteRT forms, so it is redone with them as they are."""
    return (row.status == FAILED_CHECK and fmt.name == "tflite" and not row.error
            and bool(litert_rewrites(graph)))


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _earlier_rows(out_dir: Path) -> List[Dict[str, Any]]:
    """The rows of the folder's previous status (none when it has none or it is unreadable: it is rewritten)."""
    from dcnas_deploy.errors import ConfigError

    try:
        return [r for r in read_status(out_dir).get("rows", []) if isinstance(r, dict)]
    except ConfigError:
        return []


def _save_status(out_dir: Path, doc: Dict[str, Any], rows: List[StatusRow], earlier: List[Dict[str, Any]]) -> None:
    """Write export_status.json atomically: `doc` with this run's rows and the earlier ones still true."""
    doc = {**doc, "rows": merge_rows(out_dir, rows, earlier)}
    atomic_write_text(out_dir / STATUS_FILE, json.dumps(doc, indent=2) + "\n")


def _settle(staged: Path, final: Path, passed: bool, label: str, kept: List[str]) -> Path:
    """Move a checked artefact to its final name if it passed, else beside it as *.failed.* (noted in `kept`)."""
    failed = staged_path(final, "failed")
    discard(failed)  # from an earlier attempt
    if passed:
        return promote(staged, final)
    promote(staged, failed)
    earlier = f"; {final} from an earlier export is unchanged" if final.exists() else ""
    kept.append(f"{label}: did not pass its check, kept as {failed}{earlier}")
    return failed


def _rmse(pred, gt, protocol) -> float:
    from dcnas_deploy.data.metrics import rmse

    return rmse(pred, gt, protocol)


def _last_frame(exc: BaseException) -> str:
    """Where an unexpected converter error came from (file:line), for the notes column."""
    tb = traceback.extract_tb(exc.__traceback__)
    if not tb:
        return ""
    f = tb[-1]
    return f"at {Path(f.filename).name}:{f.lineno}"


def export_checkpoint(model_path, settings: ExportSettings, norm: str = "",
                      progress: Optional[Progress] = None) -> ExportReport:
    """Load a `save_model` checkpoint and export it (see export_rows)."""
    from dcnas_deploy.export.deployable import deployable_from_checkpoint

    module, meta = deployable_from_checkpoint(model_path, norm=norm)
    return export_rows(module, meta, settings, source=str(model_path), progress=progress)
