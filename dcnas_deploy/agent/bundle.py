"""The agent's wire format: one zip per /measure request, a manifest plus the model files.

Shared by the host (builds bundles) and the agent (checks and unpacks them), so both sides agree
on one definition. Stdlib + numpy only, Python 3.8.

A bundle is a zip with ``manifest.json``::

    {"version": 1, "runtime": "onnxruntime", "options": {"threads": 2},
     "protocol": {"warmup_runs": 10, ...}, "timeout_s": 60,
     "models": [{"file": "conv3x3.onnx", "inputs": {"x": [1, 16, 32, 32]}},
                {"file": "net.xml", "weights": "net.bin", "inputs": [{"npy": "net.in000.npy"}]}]}

and one zip entry per named file. ``inputs`` (optional) maps input names to specs, or lists specs
in input order; a spec is a shape (random data of that shape) or ``{"npy": name}`` (that array).
Names are plain file names (letters, digits, ``._-``), never paths; the agent stores each file
under a name it makes itself.
"""
from __future__ import annotations

import io
import json
import os
import re
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Tuple, Union

from dcnas_deploy.runtimes.table import AGENT_FORMATS

MANIFEST = "manifest.json"
BUNDLE_VERSION = 1
CONTENT_TYPE = "application/zip"

WEIGHTS_SUFFIX = ".bin"
"""An OpenVINO .xml travels with its .bin as `weights`; the model suffixes accepted: runtimes.table.AGENT_FORMATS."""
FEED_SUFFIX = ".npy"

MAX_ENTRIES = 20000
"""Most files one bundle may hold."""

_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


class BundleError(ValueError):
    """A malformed or disallowed bundle; `status` is the HTTP status the agent answers with."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


InputSpecs = Union[Dict[str, Any], List[Any]]
"""name -> spec, or specs in input order; a spec is a shape list or {"npy": file name}."""


@dataclass
class ModelEntry:
    """One model of a request: file name, optional weights (.bin) and input specs."""

    file: str
    weights: Optional[str] = None
    inputs: Optional[InputSpecs] = None

    def to_dict(self) -> Dict[str, Any]:
        """JSON-safe dict for the manifest."""
        d: Dict[str, Any] = {"file": self.file}
        if self.weights:
            d["weights"] = self.weights
        if self.inputs:
            d["inputs"] = self.inputs
        return d

    def npy_names(self) -> List[str]:
        """File names of the arrays this model's inputs refer to."""
        specs = self.inputs.values() if isinstance(self.inputs, dict) else (self.inputs or [])
        return [spec["npy"] for spec in specs if isinstance(spec, dict)]


@dataclass
class Manifest:
    """What to measure: runtime, its options, the protocol, a timeout and the models."""

    runtime: str
    models: List[ModelEntry]
    options: Dict[str, Any] = field(default_factory=dict)
    protocol: Dict[str, Any] = field(default_factory=dict)
    timeout_s: Optional[float] = None

    def to_dict(self) -> Dict[str, Any]:
        """JSON-safe dict."""
        d: Dict[str, Any] = {"version": BUNDLE_VERSION, "runtime": self.runtime, "options": dict(self.options),
                             "protocol": dict(self.protocol), "models": [m.to_dict() for m in self.models]}
        if self.timeout_s is not None:
            d["timeout_s"] = self.timeout_s
        return d

    def names(self) -> List[str]:
        """Every file name the manifest refers to, in order."""
        out: List[str] = []
        for m in self.models:
            out.append(m.file)
            if m.weights:
                out.append(m.weights)
            out.extend(m.npy_names())
        return out


def check_name(name: str) -> str:
    """Return `name` if it is a plain, safe file name; raise BundleError otherwise."""
    if not isinstance(name, str) or not _SAFE_NAME.match(name) or ".." in name:
        raise BundleError(f"file name {name!r} rejected: names must be plain file names "
                          "(letters, digits, '.', '_', '-'; no paths, no '..', at most 128 characters)")
    return name


def model_format(name: str) -> str:
    """The suffix of an accepted model file name; BundleError (400) for anything else."""
    suffix = os.path.splitext(name)[1].lower()
    if suffix not in AGENT_FORMATS:
        raise BundleError(f"model {name!r} has unknown format {suffix or '(no suffix)'}; accepted: "
                          + ", ".join(f"{s} ({d})" for s, d in AGENT_FORMATS.items()))
    return suffix


def sniff(name: str, head: bytes) -> None:
    """Check that a file's first bytes look like its claimed format (cheap guard, not a validator)."""
    suffix = os.path.splitext(name)[1].lower()
    ok = True
    if suffix == ".tflite":
        ok = len(head) >= 8 and head[4:8] == b"TFL3"
    elif suffix == ".onnx":
        ok = len(head) >= 2 and head[0] == 0x08  # ModelProto field 1 (ir_version), serialised first
    elif suffix == ".xml":
        ok = head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<")
    elif suffix == FEED_SUFFIX:
        ok = head.startswith(b"\x93NUMPY")
    if not ok:
        raise BundleError(f"file {name!r} does not look like a {suffix} file")


def parse_manifest(data: Mapping[str, Any]) -> Manifest:
    """Validate a manifest dict (types, names, formats) and build a Manifest."""
    if not isinstance(data, Mapping):
        raise BundleError("manifest must be a JSON object")
    if data.get("version", BUNDLE_VERSION) != BUNDLE_VERSION:
        raise BundleError(f"manifest version {data.get('version')!r} not supported (this agent speaks {BUNDLE_VERSION})")
    known = {"version", "runtime", "options", "protocol", "timeout_s", "models"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise BundleError(f"unknown manifest keys {unknown}; known: {sorted(known)}")
    runtime = data.get("runtime")
    if not isinstance(runtime, str) or not runtime:
        raise BundleError("manifest 'runtime' must name a runtime, e.g. 'onnxruntime'")
    options, protocol = data.get("options") or {}, data.get("protocol") or {}
    if not isinstance(options, Mapping) or not isinstance(protocol, Mapping):
        raise BundleError("manifest 'options' and 'protocol' must be JSON objects")
    timeout = data.get("timeout_s")
    if timeout is not None and (not isinstance(timeout, (int, float)) or isinstance(timeout, bool) or timeout <= 0):
        raise BundleError(f"manifest 'timeout_s' must be a positive number, got {timeout!r}")
    raw_models = data.get("models")
    if not isinstance(raw_models, list) or not raw_models:
        raise BundleError("manifest 'models' must be a non-empty list")
    models = [_parse_model(m) for m in raw_models]
    manifest = Manifest(runtime, models, dict(options), dict(protocol), None if timeout is None else float(timeout))
    names = manifest.names()
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise BundleError(f"file names used twice in the manifest: {dupes}")
    return manifest


def _parse_model(m: Any) -> ModelEntry:
    if not isinstance(m, Mapping) or "file" not in m:
        raise BundleError(f"each model must be an object with a 'file', got {m!r}")
    unknown = sorted(set(m) - {"file", "weights", "inputs"})
    if unknown:
        raise BundleError(f"unknown model keys {unknown}; known: file, weights, inputs")
    name = check_name(m["file"])
    suffix = model_format(name)
    weights = m.get("weights")
    if suffix == ".xml":
        if not weights:
            raise BundleError(f"OpenVINO model {name!r} needs its weights: give 'weights': '<name>.bin'")
        check_name(weights)
        if not weights.lower().endswith(WEIGHTS_SUFFIX):
            raise BundleError(f"weights {weights!r} of {name!r} must be a .bin file")
    elif weights:
        raise BundleError(f"'weights' is only for OpenVINO .xml models, not {name!r}")
    inputs = m.get("inputs")
    if inputs is None:
        return ModelEntry(name, weights or None, None)
    if isinstance(inputs, Mapping):
        specs: InputSpecs = {str(k): _parse_spec(name, str(k), v) for k, v in inputs.items()}
    elif isinstance(inputs, list):
        specs = [_parse_spec(name, "#%d" % i, v) for i, v in enumerate(inputs)]
    else:
        raise BundleError(f"'inputs' of {name!r} must map input names to specs or list specs in input order")
    return ModelEntry(name, weights or None, specs)


def _parse_spec(model: str, key: str, spec: Any) -> Any:
    """A shape (list of positive ints) or {"npy": safe .npy name}."""
    if isinstance(spec, Mapping):
        if set(spec) != {"npy"} or not str(spec["npy"]).endswith(FEED_SUFFIX):
            raise BundleError(f"input {key!r} of {model!r}: an array spec is {{'npy': '<name>.npy'}}, got {dict(spec)!r}")
        check_name(spec["npy"])
        return {"npy": spec["npy"]}
    if (not isinstance(spec, list) or not spec
            or not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in spec)):
        raise BundleError(f"shape of input {key!r} of {model!r} must be a list of positive ints, got {spec!r}")
    return list(spec)


# --------------------------------------------------------------------------------------------
# host side: building a bundle
# --------------------------------------------------------------------------------------------

def build_bundle(manifest: Manifest, files: Mapping[str, bytes]) -> bytes:
    """Zip the manifest and the named file contents (every manifest name must be in `files`)."""
    missing = [n for n in manifest.names() if n not in files]
    if missing:
        raise BundleError(f"bundle is missing files named in the manifest: {missing}")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        zf.writestr(MANIFEST, json.dumps(manifest.to_dict()))
        for name in manifest.names():
            zf.writestr(name, files[name])
    return buf.getvalue()


# --------------------------------------------------------------------------------------------
# agent side: checking and unpacking a bundle
# --------------------------------------------------------------------------------------------

@dataclass
class StoredModel:
    """A model unpacked by the agent: its client-side name, the stored path and its input specs.

    Array specs hold stored paths: {"npy": "/private/dir/m00000.in000.npy"}.
    """

    name: str
    path: Path
    inputs: Optional[InputSpecs]

    def to_dict(self) -> Dict[str, Any]:
        """JSON-safe dict (for the measuring child)."""
        return {"name": self.name, "path": str(self.path), "inputs": self.inputs}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "StoredModel":
        """Inverse of to_dict."""
        return cls(str(d["name"]), Path(d["path"]), d.get("inputs"))


def unpack_bundle(blob_path: Path, dest: Path, max_bytes: int) -> Tuple[Manifest, List[StoredModel]]:
    """Check a bundle file and write its files into `dest` under agent-made names.

    Raises BundleError: 400 for a malformed bundle, bad names or formats; 413 when the unpacked
    size exceeds `max_bytes`.
    """
    try:
        zf = zipfile.ZipFile(str(blob_path))
    except (zipfile.BadZipFile, OSError) as exc:
        raise BundleError(f"request body is not a zip bundle ({exc})")
    with zf:
        infos = zf.infolist()
        if len(infos) > MAX_ENTRIES:
            raise BundleError(f"bundle holds {len(infos)} files, more than the {MAX_ENTRIES} allowed; split it")
        total = sum(i.file_size for i in infos)
        if total > max_bytes:
            raise BundleError(f"bundle unpacks to {total} bytes, over this agent's limit of {max_bytes}", 413)
        entries: Dict[str, zipfile.ZipInfo] = {}
        for info in infos:
            if info.filename != MANIFEST:
                check_name(info.filename)
            if info.filename in entries:
                raise BundleError(f"zip entry {info.filename!r} appears twice")
            entries[info.filename] = info
        if MANIFEST not in entries:
            raise BundleError(f"bundle has no {MANIFEST}")
        try:
            manifest = parse_manifest(json.loads(_read(zf, entries[MANIFEST], max_bytes).decode("utf-8")))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise BundleError(f"{MANIFEST} is not valid JSON ({exc})")
        names = manifest.names()
        missing = [n for n in names if n not in entries]
        extra = sorted(set(entries) - set(names) - {MANIFEST})
        if missing or extra:
            raise BundleError(f"bundle files do not match the manifest: missing {missing}, unexpected {extra}")
        stored: List[StoredModel] = []
        for index, model in enumerate(manifest.models):
            stem = "m%05d" % index
            suffix = model_format(model.file)
            path = dest / (stem + suffix)
            _write(zf, entries[model.file], path, max_bytes)
            if model.weights:
                # OpenVINO finds the weights next to the .xml under the same stem
                _write(zf, entries[model.weights], dest / (stem + WEIGHTS_SUFFIX), max_bytes)
            stored.append(StoredModel(model.file, path, _store_specs(zf, entries, model.inputs, dest, stem, max_bytes)))
    return manifest, stored


def _store_specs(zf: zipfile.ZipFile, entries: Mapping[str, zipfile.ZipInfo], specs: Optional[InputSpecs],
                 dest: Path, stem: str, max_bytes: int) -> Optional[InputSpecs]:
    """Write the arrays a model's input specs name under agent-made names; specs now hold those paths."""
    if specs is None:
        return None
    counter = [0]

    def store(spec: Any) -> Any:
        if not isinstance(spec, dict):
            return spec
        path = dest / ("%s.in%03d%s" % (stem, counter[0], FEED_SUFFIX))
        counter[0] += 1
        _write(zf, entries[spec["npy"]], path, max_bytes)
        return {"npy": str(path)}

    if isinstance(specs, dict):
        return {k: store(v) for k, v in specs.items()}
    return [store(v) for v in specs]


def _read(zf: zipfile.ZipFile, info: zipfile.ZipInfo, max_bytes: int) -> bytes:
    """An entry's bytes; BundleError 400 when it fails its CRC or cannot be decompressed, 413 when too large."""
    try:
        with zf.open(info) as fh:
            data = fh.read(max_bytes + 1)
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError, ValueError) as exc:
        raise BundleError(f"zip entry {info.filename!r} is corrupt ({type(exc).__name__}: {exc}); rebuild the "
                          f"bundle and send it again") from None
    if len(data) > max_bytes:
        raise BundleError(f"{info.filename!r} is larger than this agent's limit of {max_bytes} bytes", 413)
    return data


def _write(zf: zipfile.ZipFile, info: zipfile.ZipInfo, path: Path, max_bytes: int) -> None:
    data = _read(zf, info, max_bytes)
    sniff(info.filename, data[:64])
    fd = os.open(str(path), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def feeds_for(model: StoredModel) -> Any:
    """FeedsOrShapes for runtimes.sessions.time_file: shapes as tuples, arrays loaded (None when no specs)."""
    if not model.inputs:
        return None

    def value(spec: Any) -> Any:
        if isinstance(spec, dict):
            import numpy as np

            return np.load(spec["npy"], allow_pickle=False)
        return tuple(spec)

    if isinstance(model.inputs, dict):
        return {k: value(v) for k, v in model.inputs.items()}
    return [value(v) for v in model.inputs]


def encode_inputs(model_name: str, feeds_or_shapes: Any) -> Tuple[Optional[InputSpecs], Dict[str, bytes]]:
    """Host-side FeedsOrShapes (mapping or input-ordered list of arrays/shapes) -> specs + .npy bytes."""
    if feeds_or_shapes is None:
        return None, {}
    blobs: Dict[str, bytes] = {}
    stem = os.path.splitext(model_name)[0]

    def spec(value: Any) -> Any:
        if hasattr(value, "shape") and hasattr(value, "dtype"):
            import numpy as np

            buf = io.BytesIO()
            np.save(buf, np.ascontiguousarray(value), allow_pickle=False)
            fname = "%s.in%03d%s" % (stem, len(blobs), FEED_SUFFIX)
            blobs[fname] = buf.getvalue()
            return {"npy": fname}
        return [int(d) for d in value]

    if isinstance(feeds_or_shapes, Mapping):
        return {str(k): spec(v) for k, v in feeds_or_shapes.items()}, blobs
    return [spec(v) for v in feeds_or_shapes], blobs
