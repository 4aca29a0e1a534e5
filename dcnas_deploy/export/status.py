"""The one status table of an export: a row per (format, precision), shown with rich and saved as JSON.

The saved `export_status.json` only ever describes the files in its folder: an export marks it
`in_progress` before it changes anything and rewrites it (atomically) after each file settles; its rows
are this run's plus earlier rows whose files are still there. Each row names the sha256 of the model its
file came from, as the file's sidecar does, so a row that no longer describes its file is found out.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional

PASSED = "passed"
FAILED_CHECK = "failed_check"
EXPORT_FAILED = "export_failed"
UNSUPPORTED = "unsupported"
REFERENCE = "reference"
STATUS_FILE = "export_status.json"
IN_PROGRESS = "in_progress"
COMPLETE = "complete"

LABELS = {PASSED: "[green]passed[/]", FAILED_CHECK: "[red]exported, failed check[/]",
          EXPORT_FAILED: "[red]export failed[/]", UNSUPPORTED: "[yellow]unsupported[/]",
          REFERENCE: "[cyan]reference[/]"}


@dataclass
class StatusRow:
    """What happened to one (format, precision)."""

    format: str
    precision: str
    status: str
    runtime: str = ""
    path: str = ""
    size_mb: Optional[float] = None
    psnr_db: Optional[float] = None
    max_abs: Optional[float] = None
    rmse_torch: Optional[float] = None
    rmse_file: Optional[float] = None
    rmse_increase_pct: Optional[float] = None
    latency_ms: Optional[float] = None
    """Median latency in the local runtime."""
    timing: Optional[Dict[str, Any]] = None
    convert_s: Optional[float] = None
    note: str = ""
    error: str = ""
    failures: List[str] = field(default_factory=list)
    per_image: List[Dict[str, Any]] = field(default_factory=list)
    model_sha256: str = ""
    """sha256 of the model file this row's file was exported from (its sidecar's `source_sha256`)."""

    @property
    def ok(self) -> bool:
        """Passed (or the PyTorch reference row)."""
        return self.status in (PASSED, REFERENCE)

    def to_dict(self) -> Dict[str, Any]:
        """JSON-safe dict (non-finite floats as strings)."""
        def clean(v):
            if isinstance(v, float) and not math.isfinite(v):
                return str(v)
            if isinstance(v, dict):
                return {k: clean(x) for k, x in v.items()}
            if isinstance(v, list):
                return [clean(x) for x in v]
            return v

        return clean(asdict(self))


def _num(v: Optional[float], fmt: str) -> str:
    if v is None:
        return "—"
    if isinstance(v, float) and math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return format(v, fmt)


def status_cell(row: StatusRow, width: int = 70) -> str:
    """The status label, and under it why a row did not pass (its first failure or error, shortened)."""
    from rich.markup import escape

    label = LABELS.get(row.status, row.status)
    why = next((t for t in [*row.failures, row.error] if t), "") if not row.ok else ""
    if not why:
        return label
    why = why if len(why) <= width else why[:width - 1] + "…"
    return f"{label}\n[dim]{escape(why)}[/]"


def render_table(rows: List[StatusRow], title: str, unit: str = ""):
    """A rich Table of the rows (one per format and precision); notes go below it (`row_notes`)."""
    from rich import box
    from rich.table import Table

    table = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False)
    for col, justify in (("format", "left"), ("prec", "left"), ("status", "left"), ("MB", "right"),
                         ("PSNR dB", "right"), ("max|Δ|", "right"), (f"RMSE {unit}".strip(), "right"),
                         ("ΔRMSE%", "right"), ("ms", "right")):
        table.add_column(col, justify=justify,  # type: ignore[arg-type]  # the literals above
                         no_wrap=col != "status", min_width=9 if col == "status" else None)
    for r in rows:
        table.add_row(r.format, r.precision, status_cell(r), _num(r.size_mb, ".2f"),
                      _num(r.psnr_db, ".1f"), _num(r.max_abs, ".2g"),
                      _num(r.rmse_file if r.status != REFERENCE else r.rmse_torch, ".4f"),
                      _num(r.rmse_increase_pct, "+.2f"), _num(r.latency_ms, ".2f"))
    table.caption = ("PSNR vs PyTorch (worst check image), max|Δ| in depth units, task RMSE (mean) and its change "
                     "vs PyTorch, median latency in the local runtime")
    return table


def row_notes(rows: List[StatusRow]) -> List[str]:
    """One line per row that has failures, an error or a note."""
    out = []
    for r in rows:
        for text in [*r.failures, r.error, r.note]:
            if text and r.status != REFERENCE:
                out.append(f"{r.format} {r.precision}: {text}")
    return out


def file_sha256(path: os.PathLike | str) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_status(folder: os.PathLike | str) -> Dict[str, Any]:
    """The folder's export_status.json ({} when there is none); ConfigError when it cannot be read."""
    from dcnas_deploy.errors import ConfigError

    path = Path(folder) / STATUS_FILE
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
        if not isinstance(data, dict) or not isinstance(data.get("rows", []), list):
            raise ValueError("expected an object with a list of rows")
    except (ValueError, OSError) as exc:
        raise ConfigError(f"{path} is not a readable export status ({exc}); re-run the export") from None
    return data


def describes_file(row: Dict[str, Any], file: Path) -> bool:
    """Whether `row` was written for the file now at `file`: both name the same source model (sidecar hash)."""
    from dcnas_deploy.export.metadata import sidecar_path

    try:
        meta = json.loads(sidecar_path(file).read_text())
    except (ValueError, OSError):
        meta = {}
    have = meta.get("source_sha256", "") if isinstance(meta, dict) else ""
    return str(row.get("model_sha256") or "") == str(have or "")


def merge_rows(folder: Path, current: List[StatusRow], earlier: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """This run's rows, then the earlier rows whose files are still in `folder`, unreplaced and theirs."""
    mine = {Path(r.path).name for r in current if r.path}
    kept = []
    for r in earlier:
        file = folder / Path(r["path"]).name if isinstance(r, dict) and r.get("path") else None
        if file is not None and file.name not in mine and file.is_file() and describes_file(r, file):
            kept.append({**r, "path": str(file)})
    return [r.to_dict() for r in current] + kept
