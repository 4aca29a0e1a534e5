"""Metadata that travels with an exported model: inside the file and in a sidecar `<file>.json`.

Inside the file, under the key/namespace `dcnas` (a JSON string):
- ONNX: `metadata_props` entry `dcnas`;
- OpenVINO IR: `rt_info` entry `dcnas` (`model.get_rt_info(["dcnas"])`);
- TFLite: a named buffer `dcnas` in the flatbuffer's `metadata` list (the mechanism TFLite metadata uses;
  the interpreter ignores it, `read_embedded` reads it back).
The sidecar `<file>.json` is always written too (same content), so torch-free tools and people can read it.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Dict, Optional

from dcnas_deploy.errors import ConfigError
from dcnas_deploy.fileio import atomic_write, atomic_write_text

KEY = "dcnas"
FORMAT = "dcnas-export/1"


def sidecar_path(path) -> Path:
    """`model.onnx` → `model.onnx.json`."""
    p = Path(path)
    return p.with_name(p.name + ".json")


def build_metadata(*, arch: Dict[str, Any], space: Dict[str, Any], scale: int, norm: str, layout: str,
                   precision: str, fmt: str, runtime: str, hr_size, inputs: Dict[str, list], output: list,
                   source: str = "", source_sha256: str = "", train_meta: Optional[Dict[str, Any]] = None,
                   quantization: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """The metadata dict of one exported file (JSON-safe)."""
    from dcnas_deploy import __version__

    return {"format": FORMAT, "package": "dcnas-deploy", "version": __version__, "format_name": fmt,
            "runtime": runtime, "precision": precision, "scale": int(scale), "norm": norm, "layout": layout,
            "hr_size": [int(hr_size[0]), int(hr_size[1])],
            "inputs": {"lr": {"shape": list(inputs["lr"]), "units": "the LR target's own units"},
                       "guide": {"shape": list(inputs["guide"]), "range": [0.0, 1.0]}},
            "output": {"shape": list(output), "units": "the LR's units"},
            "arch": arch, "space": space, "source": source, "source_sha256": source_sha256,
            "train_meta": dict(train_meta or {}),
            **({"quantization": dict(quantization)} if quantization else {})}


def write_sidecar(path, meta: Dict[str, Any]) -> Path:
    """Write `<file>.json` atomically."""
    return atomic_write_text(sidecar_path(path), json.dumps(meta, indent=2) + "\n")


# --------------------------------------------------------------------------------------------
# embedding per format
# --------------------------------------------------------------------------------------------

def _embed_onnx(path: Path, text: str) -> None:
    import onnx

    model = onnx.load(str(path))
    for prop in list(model.metadata_props):
        if prop.key == KEY:
            model.metadata_props.remove(prop)
    model.metadata_props.add(key=KEY, value=text)
    atomic_write(path, lambda tmp: onnx.save(model, tmp))


def _read_onnx(path: Path) -> Optional[str]:
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    return next((p.value for p in model.metadata_props if p.key == KEY), None)


def _embed_openvino(path: Path, text: str) -> None:
    from dcnas_deploy.runtimes.sessions import openvino_core

    ov, core = openvino_core()
    model = core.read_model(str(path))
    model.set_rt_info(text, [KEY])
    tmp = path.with_name(f".{path.stem}.meta{path.suffix}")
    try:
        # weights keep the precision they have in the file (no fp16 compression on re-save)
        ov.save_model(model, str(tmp), compress_to_fp16=False)
        import os

        os.replace(tmp.with_suffix(".bin"), path.with_suffix(".bin"))
        os.replace(tmp, path)
    finally:
        for p in (tmp, tmp.with_suffix(".bin")):
            if p.exists():
                p.unlink()


def _read_openvino(path: Path) -> Optional[str]:
    from dcnas_deploy.runtimes.sessions import openvino_core

    _, core = openvino_core()
    model = core.read_model(str(path))
    if not model.has_rt_info([KEY]):
        return None
    return str(model.get_rt_info([KEY]).astype(str))


def _embed_tflite(path: Path, text: str) -> None:
    import flatbuffers
    import numpy as np
    from ai_edge_litert import schema_py_generated as schema

    raw = path.read_bytes()
    model = schema.ModelT.InitFromPackedBuf(bytearray(raw), 0)
    model.buffers = list(model.buffers or [])
    for b in model.buffers:
        # large-model layout keeps buffer data after the flatbuffer (offset/size); the object API would
        # drop it on re-pack, so inline it
        if getattr(b, "offset", 0) and b.offset > 1:
            b.data = np.frombuffer(raw, np.uint8, count=b.size, offset=b.offset).copy()
            b.offset, b.size = 0, 0
    model.metadata = [m for m in (model.metadata or []) if (m.name or b"") not in (KEY, KEY.encode())]
    buf = schema.BufferT()
    buf.data = np.frombuffer(text.encode("utf-8"), np.uint8).copy()
    model.buffers.append(buf)
    entry = schema.MetadataT()
    entry.name = KEY
    entry.buffer = len(model.buffers) - 1
    model.metadata.append(entry)
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    data = bytes(builder.Output())
    atomic_write(path, lambda tmp: Path(tmp).write_bytes(data))


def _read_tflite(path: Path) -> Optional[str]:
    from ai_edge_litert import schema_py_generated as schema

    model = schema.Model.GetRootAs(bytearray(path.read_bytes()), 0)
    for i in range(model.MetadataLength()):
        md = model.Metadata(i)
        if md.Name() in (KEY, KEY.encode()):
            return bytes(model.Buffers(md.Buffer()).DataAsNumpy().tobytes()).decode("utf-8")
    return None


_EMBED: Dict[str, Callable[[Path, str], None]] = {".onnx": _embed_onnx, ".xml": _embed_openvino,
                                                  ".tflite": _embed_tflite}
_READ: Dict[str, Callable[[Path], Optional[str]]] = {".onnx": _read_onnx, ".xml": _read_openvino,
                                                     ".tflite": _read_tflite}


def embed(path, meta: Dict[str, Any]) -> None:
    """Store `meta` inside the model file (see the module docstring for where, per format)."""
    p = Path(path)
    if p.suffix not in _EMBED:
        raise ConfigError(f"no metadata embedding for {p.suffix} files; known: {sorted(_EMBED)}")
    _EMBED[p.suffix](p, json.dumps(meta, sort_keys=True))


def read_embedded(path) -> Optional[Dict[str, Any]]:
    """The metadata stored inside the file, or None when it has none."""
    p = Path(path)
    reader = _READ.get(p.suffix)
    text = reader(p) if reader else None
    return json.loads(text) if text else None


def read_metadata(path) -> Optional[Dict[str, Any]]:
    """The sidecar's metadata, else the embedded one, else None."""
    side = sidecar_path(path)
    if side.is_file():
        try:
            return json.loads(side.read_text())
        except ValueError as exc:
            raise ConfigError(f"{side}: not valid JSON ({exc})") from None
    return read_embedded(path)
