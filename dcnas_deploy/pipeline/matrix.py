"""`benchmark` over several devices and model files at once: one table, device × format × precision.

Each model file is timed on each device whose runtime loads it (runtimes.table); other combinations are
skipped with the reason. An export folder contributes the files its `export_status.json` lists, with their
format, precision and accuracy-gate status; a loose file gets its format from its suffix and its precision
from its name (`model_fp16.onnx`). OpenVINO devices time the IR (.xml), not the ONNX file of an export.
"""
from __future__ import annotations

import datetime as _dt
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

from dcnas_deploy.errors import ConfigError, DcnasError
from dcnas_deploy.export.status import IN_PROGRESS, PASSED, STATUS_FILE, describes_file, read_status
from dcnas_deploy.runtimes.devices import DeviceProfile
from dcnas_deploy.runtimes.protocol import Protocol, Timing
from dcnas_deploy.runtimes.table import RUNTIMES, model_suffixes, runtimes_loading

_PRECISION = re.compile(r"_(fp32|fp16|bf16|int8)$")


@dataclass(frozen=True)
class MatrixInput:
    """One thing to time: a file with its format, precision, size and accuracy-gate status (when known)."""

    path: Path
    format: str
    precision: str
    size_mb: float
    gate: str = ""
    """Its export_status.json status (passed, failed_check, ...); empty when it did not come from an export."""
    skip: str = ""
    """Why a file of an export folder is not timed (its check failed, or the status is not about it); '' = time it."""


@dataclass
class MatrixRow:
    """One (device, input) combination: its timing, or why it was skipped, or the error it met."""

    device: str
    runtime: str
    input: MatrixInput
    timing: Optional[Timing] = None
    skipped: str = ""
    error: str = ""

    @property
    def fps(self) -> Optional[float]:
        """Inferences per second at the median latency."""
        return None if self.timing is None else 1000.0 / self.timing.median_ms

    def to_dict(self) -> Dict[str, Any]:
        """JSON form."""
        return {"device": self.device, "runtime": self.runtime, "input": str(self.input.path),
                "format": self.input.format, "precision": self.input.precision,
                "size_mb": round(self.input.size_mb, 4), "gate": self.input.gate or None,
                "timing": None if self.timing is None else self.timing.to_dict(),
                "fps": None if self.fps is None else round(self.fps, 3),
                "skipped": self.skipped or None, "error": self.error or None}


@dataclass
class Matrix:
    """Every row, with the protocol and when it ran."""

    rows: List[MatrixRow]
    protocol: Protocol
    date: str = field(default_factory=lambda: _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"))

    @property
    def timed(self) -> List[MatrixRow]:
        """Rows with a timing."""
        return [r for r in self.rows if r.timing is not None]

    def to_dict(self) -> Dict[str, Any]:
        """JSON form."""
        return {"rows": [r.to_dict() for r in self.rows], "protocol": self.protocol.to_dict(), "date": self.date}


def collect_inputs(paths: Sequence[Path]) -> List[MatrixInput]:
    """The inputs of `paths`: files as given; a folder's model files (an export folder's, from its status file)."""
    out: List[MatrixInput] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = _folder_inputs(p)
            if not found:
                raise ConfigError(f"{p} holds no model files ({', '.join(model_suffixes())}); give an export "
                                  "folder (`dcnas-deploy export -o DIR`) or model files")
            out.extend(found)
        elif not p.exists():
            raise ConfigError(f"input not found: {p}")
        else:
            out.append(_file_input(p, _gates(p.parent)))
    return out


def _gates(folder: Path) -> Dict[str, Dict[str, Any]]:
    """file name -> its export_status.json row (empty without a status file)."""
    rows = read_status(folder).get("rows", [])
    return {Path(r["path"]).name: r for r in rows if isinstance(r, dict) and r.get("path")}


def _folder_inputs(folder: Path) -> List[MatrixInput]:
    if read_status(folder).get("state") == IN_PROGRESS:
        from dcnas_deploy.errors import warn

        warn(f"the export into {folder} has not finished (it is running, or was stopped): only the files it had "
             f"checked are listed in {STATUS_FILE}")
    gates = _gates(folder)
    files = [folder / name for name in gates if (folder / name).is_file()] if gates else \
        sorted(p for p in folder.iterdir() if p.suffix in model_suffixes() and ".failed." not in p.name)
    return [_file_input(p, gates, _skip_reason(p, gates.get(p.name))) for p in files]


def _skip_reason(path: Path, row: Optional[Dict[str, Any]]) -> str:
    """Why an export folder's file is not timed: its check did not pass, or its status row is about another file."""
    if row is None:
        return ""
    if row.get("status") != PASSED:
        return (f"{path.name} did not pass its export check ({row.get('status')} in {STATUS_FILE}); give the file "
                "itself to time it anyway")
    if not describes_file(row, path):
        return (f"{STATUS_FILE} describes another model than {path.name} (an export was stopped part-way?): "
                f"re-run the export into {path.parent}")
    return ""


def _file_input(path: Path, gates: Dict[str, Dict[str, Any]], skip: str = "") -> MatrixInput:
    row = gates.get(path.name, {})
    m = _PRECISION.search(path.stem)
    precision = row.get("precision") or (m.group(1) if m else "—")
    size = sum(f.stat().st_size for f in (path, path.with_suffix(".bin")) if f.is_file()) / 1e6
    return MatrixInput(path, row.get("format") or _format_of(path), precision, size, row.get("status", ""), skip)


def _format_of(path: Path) -> str:
    """The export format of a model file; else its input kind (checkpoint, arch) or `torch`."""
    from dcnas_deploy.export.formats import FORMATS
    from dcnas_deploy.pipeline.benchmark import input_kind_for

    for f in FORMATS.values():
        if f.suffix == path.suffix:
            return f.name
    kind = input_kind_for(path)
    return "torch" if kind.name == "model-file" else kind.name


def why_not(profile: DeviceProfile, item: MatrixInput) -> str:
    """Why `profile` does not time `item` ('' when it does)."""
    from dcnas_deploy.pipeline.benchmark import input_kind_for

    suffix = item.path.suffix
    if input_kind_for(item.path).build is not None:
        return item.skip  # checkpoints and ARCH.yaml are built, then converted for any runtime
    loads = RUNTIMES[profile.runtime].loads
    if suffix not in loads:
        return (f"{profile.runtime} loads {', '.join(loads)} files; {item.path.name} is for "
                f"{', '.join(runtimes_loading(suffix))}")
    if profile.runtime == "openvino" and suffix == ".onnx":
        return "OpenVINO devices time the IR (.xml) of an export, not its ONNX file"
    return item.skip


def benchmark_matrix(inputs: Sequence[MatrixInput], profiles: Sequence[DeviceProfile],
                     protocol: Protocol = Protocol(), options: Optional[Dict[str, Any]] = None,
                     on_row: Optional[Callable[[MatrixRow], None]] = None) -> Matrix:
    """Time every input on every device that can run it (pipeline.benchmark.benchmark each); skipped ones say why."""
    from dcnas_deploy.pipeline.benchmark import benchmark
    from dcnas_deploy.runtimes.connections import connect

    rows: List[MatrixRow] = []
    for profile in profiles:
        ok, why = connect(profile).reachable()
        for item in inputs:
            row = MatrixRow(profile.name, profile.runtime, item)
            row.skipped = why_not(profile, item) or ("" if ok else f"device not reachable: {why}")
            if not row.skipped:
                try:
                    row.timing = benchmark(item.path, profile, protocol, options).timing
                except DcnasError as exc:
                    row.error = str(exc)
            rows.append(row)
            if on_row is not None:
                on_row(row)
    return Matrix(rows, protocol)


def plot_matrix(matrix: Matrix, path: Path) -> Path:
    """Horizontal bars: median latency per (device, format, precision), p10–p90 as whiskers."""
    from dcnas_deploy.figures import new_figure, save_png

    timed = matrix.timed
    if not timed:
        raise ConfigError("nothing was timed, so there is no chart to draw")
    labels = [f"{r.device} · {r.input.format} {r.input.precision}" for r in timed]
    med = [r.timing.median_ms for r in timed]  # type: ignore[union-attr]  # timed rows have one
    lo = [max(m - r.timing.p10_ms, 0.0) if math.isfinite(r.timing.p10_ms) else 0.0 for m, r in zip(med, timed)]  # type: ignore[union-attr]  # timed rows have one
    hi = [max(r.timing.p90_ms - m, 0.0) if math.isfinite(r.timing.p90_ms) else 0.0 for m, r in zip(med, timed)]  # type: ignore[union-attr]  # timed rows have one
    fig = new_figure((7.5, 1.0 + 0.35 * len(timed)))
    ax = fig.subplots()
    ys = list(range(len(timed)))
    ax.barh(ys, med, xerr=[lo, hi], color="tab:blue", ecolor="0.3", capsize=3)
    ax.set_yticks(ys)
    ax.set_yticklabels(labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("latency (ms): median, whiskers p10–p90")
    ax.set_title(f"benchmark matrix ({matrix.date})", fontsize=9)
    fig.tight_layout()
    return save_png(fig, path, dpi=110)
