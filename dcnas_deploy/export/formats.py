"""The ONE table of export formats (Ultralytics style): it drives export, the status table and file loading.

Each row: name, file suffix, the runtime that loads it (`runtimes.sessions.load_session`), how it converts
per precision (`converters.CONVERTERS`), precisions it cannot do here (with the reason), and the
runtime options its accuracy check and latency use.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

from dcnas_deploy.errors import ConfigError
from dcnas_deploy.runtimes.table import RUNTIMES

FILE_PRECISIONS = ("fp32", "fp16", "int8")
"""What an exported file's weights/activations are stored as (`export --precision`); sessions compute in
runtimes.sessions.COMPUTE_PRECISIONS."""


def _ov_check_precision(precision: str) -> Tuple[str, str]:
    """(OpenVINO runtime precision for the local check, note): fp16 inference only where the CPU has FP16."""
    if precision != "fp16":
        return precision, ""
    from dcnas_deploy.runtimes.sessions import openvino_core

    _, core = openvino_core()
    try:
        caps = list(core.get_property("CPU", "OPTIMIZATION_CAPABILITIES"))
    except Exception:  # pragma: no cover - very old plugins
        caps = []
    if "FP16" in caps:
        return "fp16", ""
    return "fp32", ("fp16 weights checked with f32 inference: this CPU has no FP16 compute "
                    f"(OPTIMIZATION_CAPABILITIES {caps}; an f16 hint would silently run bf16)")


@dataclass(frozen=True)
class ExportFormat:
    """One exportable format."""

    name: str
    runtime: str
    """The runtime that loads it (a row of runtimes.table, whose converter writes its suffix)."""
    description: str
    unsupported: Mapping[str, str] = field(default_factory=dict)
    """precision -> why it cannot be exported here."""
    nhwc: bool = False
    """Whether --nhwc applies to this format."""
    check_precision: Optional[Callable[[str], Tuple[str, str]]] = None
    """precision -> (runtime precision option for the local check, note); None: no precision option."""

    @property
    def suffix(self) -> str:
        """The file suffix: what its runtime's converter writes."""
        return RUNTIMES[self.runtime].writes[0]

    @property
    def precisions(self) -> Tuple[str, ...]:
        """Precisions this format exports here."""
        return tuple(p for p in FILE_PRECISIONS if p not in self.unsupported)

    def converter(self, precision: str):
        """The converter for `precision` (ConfigError naming the reason if unsupported)."""
        from dcnas_deploy.export.converters import CONVERTERS

        if precision in self.unsupported:
            raise ConfigError(f"{self.name} {precision} is not supported here: {self.unsupported[precision]}")
        try:
            return CONVERTERS[(self.name, precision)]
        except KeyError:
            raise ConfigError(f"no {self.name} converter for precision {precision!r}; "
                              f"supported: {list(self.precisions)}") from None

    def artefact_path(self, out_dir, stem: str, precision: str) -> Path:
        """Where the file of `precision` goes, e.g. out/model_int8.onnx."""
        return Path(out_dir) / f"{stem}_{precision}{self.suffix}"

    def runtime_options(self, precision: str, threads: int) -> Tuple[Dict[str, Any], str]:
        """(load_session options, note) for checking/timing a file of `precision` on this host."""
        opts: Dict[str, Any] = {"threads": int(threads)}
        note = ""
        if self.check_precision is not None:
            opts["precision"], note = self.check_precision(precision)
        return opts, note

    def load(self, path, precision: str = "fp32", threads: int = 2):
        """(Session, note): the file loaded in this format's runtime (`runtimes.sessions.load_session`)."""
        from dcnas_deploy.runtimes.sessions import load_session

        opts, note = self.runtime_options(precision, threads)
        return load_session(path, self.runtime, opts), note


FORMATS: Dict[str, ExportFormat] = {f.name: f for f in [
    ExportFormat("onnx", "onnxruntime", "ONNX (torch.onnx.export; ONNX Runtime)"),
    ExportFormat("openvino", "openvino", "OpenVINO IR (.xml + .bin)", check_precision=_ov_check_precision),
    ExportFormat("tflite", "litert", "TFLite (litert-torch; LiteRT interpreter)", nhwc=True),
]}
"""format name -> ExportFormat. Add a format with one row (and its converters in converters.CONVERTERS)."""


def get_format(name: str) -> ExportFormat:
    """The format called `name`, or ConfigError listing the known ones."""
    try:
        return FORMATS[name]
    except KeyError:
        raise ConfigError(f"unknown export target {name!r}; known: {', '.join(FORMATS)} or all") from None


def parse_targets(target: str) -> List[ExportFormat]:
    """'onnx', 'onnx,tflite' or 'all' -> formats in table order."""
    names = [t.strip().lower() for t in str(target).split(",") if t.strip()]
    if not names:
        raise ConfigError("no export target given; use onnx, openvino, tflite or all")
    if "all" in names:
        return list(FORMATS.values())
    return [get_format(n) for n in dict.fromkeys(names)]


def parse_precisions(precision: str) -> List[str]:
    """'fp32', 'fp32,int8' or 'all' -> precisions in FILE_PRECISIONS order."""
    names = [p.strip().lower() for p in str(precision).split(",") if p.strip()]
    if "all" in names:
        return list(FILE_PRECISIONS)
    bad = [p for p in names if p not in FILE_PRECISIONS]
    if bad or not names:
        raise ConfigError(f"unknown precision(s) {bad or precision!r}; use {', '.join(FILE_PRECISIONS)} or all")
    return [p for p in FILE_PRECISIONS if p in names]


def format_for_file(path) -> ExportFormat:
    """The format whose suffix `path` has (ConfigError listing the suffixes otherwise)."""
    suffix = Path(path).suffix.lower()
    for f in FORMATS.values():
        if f.suffix == suffix:
            return f
    raise ConfigError(f"{Path(path).name}: not an exported model file; expected "
                      f"{', '.join(f.suffix for f in FORMATS.values())}")
