"""An export writes each artefact beside the old one and only replaces it once the new file passes its check.

`model_fp32.onnx` is converted as `model_fp32.new.onnx` (with its sidecar, and OpenVINO's .bin); when
the accuracy gate passes it is moved onto `model_fp32.onnx`, otherwise onto `model_fp32.failed.onnx`.
So the plain name only ever holds a file that passed, and a rerun whose gate fails loses nothing.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import List

from dcnas_deploy.export.metadata import sidecar_path


def artefact_files(path: Path) -> List[Path]:
    """The files of one artefact, in replacement order: sidecar, OpenVINO's .bin, then the model file."""
    return [sidecar_path(path)] + ([path.with_suffix(".bin")] if path.suffix == ".xml" else []) + [path]


def staged_path(final: Path, tag: str) -> Path:
    """`out/model_fp32.onnx` → `out/model_fp32.<tag>.onnx` (same folder and suffix, so converters see no difference)."""
    return final.with_name(f"{final.stem}.{tag}{final.suffix}")


def discard(path: Path) -> None:
    """Remove every file of the artefact at `path` that exists."""
    for p in artefact_files(path):
        if p.exists():
            p.unlink()


def promote(staged: Path, final: Path) -> Path:
    """Move every file of `staged` onto `final` (os.replace each: atomic per file); returns `final`."""
    for src, dst in zip(artefact_files(staged), artefact_files(final)):
        if src.exists():
            os.replace(src, dst)
        elif dst.exists():
            dst.unlink()  # e.g. an old sidecar the new artefact does not have
    return final
