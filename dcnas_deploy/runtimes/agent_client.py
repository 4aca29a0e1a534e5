"""`connection: agent`: time model files on a remote device host through its dcnas-deploy agent.

The host zips many model files per request (see dcnas_deploy.agent.bundle), the agent times them
one at a time with the same `sessions.time_file` and protocol a local measurement uses, and answers
with timings. urllib only (no extra dependency).
"""
from __future__ import annotations

import json
import os
import re
import socket
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, ClassVar, Dict, List, Mapping, Optional, Sequence, Tuple

from dcnas_deploy.agent.bundle import (CONTENT_TYPE, WEIGHTS_SUFFIX, Manifest, ModelEntry,
                                       build_bundle, encode_inputs)
from dcnas_deploy.errors import ConfigError, DeviceError
from dcnas_deploy.runtimes.connections import Connection, Progress
from dcnas_deploy.runtimes.sessions import FeedsOrShapes
from dcnas_deploy.runtimes.protocol import Protocol, Timing
from dcnas_deploy.runtimes.table import AGENT_FORMATS

START_HINT = ("start it on the device host with `python -m dcnas_deploy.agent --token-file TOKEN_FILE` "
              "(or `dcnas-deploy agent ...`), and reach it through an SSH tunnel if it binds 127.0.0.1 there")
_INFO_TIMEOUT_S = 30.0
_SLACK_S = 300.0
"""Added to a measure request's read timeout for queueing behind other requests."""


def _safe_name(index: int, path: Path) -> str:
    """A wire name the agent accepts: index prefix (unique) + the file name with odd characters replaced."""
    stem = re.sub(r"[^A-Za-z0-9._-]", "_", path.stem).strip(".")[:96] or "model"
    return "%04d_%s%s" % (index, stem, path.suffix.lower())


class AgentClient:
    """HTTP client of one agent: health, info and measure, with errors that say what to do."""

    def __init__(self, url: str, token_file: Optional[Path] = None, token: Optional[str] = None):
        self.url = url.rstrip("/")
        self.token_file = Path(token_file).expanduser() if token_file is not None else None
        self._token = token

    @property
    def token(self) -> str:
        """The shared token (read from the token file on first use)."""
        if self._token is None:
            if self.token_file is None:
                raise ConfigError(f"no token for the agent at {self.url}: set connection.token_file")
            try:
                self._token = self.token_file.read_text().strip()
            except FileNotFoundError:
                raise ConfigError(f"agent token file {self.token_file} not found: copy the agent's token file "
                                  "from the device host (it prints where it keeps it at start)") from None
            except OSError as exc:
                raise ConfigError(f"cannot read agent token file {self.token_file}: {exc.strerror}") from None
            if not self._token:
                raise ConfigError(f"agent token file {self.token_file} is empty")
        return self._token

    def _request(self, method: str, path: str, body: Optional[bytes] = None, timeout: float = _INFO_TIMEOUT_S,
                 auth: bool = True) -> Dict[str, Any]:
        headers = {"Accept": "application/json"}
        if auth:
            headers["Authorization"] = "Bearer " + self.token
        if body is not None:
            headers["Content-Type"] = CONTENT_TYPE
        req = urllib.request.Request(self.url + path, data=body, headers=headers, method=method)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                return json.loads(resp.read().decode("utf-8"))
        except urllib.error.HTTPError as exc:
            raise self._http_error(exc) from None
        except urllib.error.URLError as exc:
            reason = exc.reason
            if isinstance(reason, (socket.timeout, TimeoutError)):
                raise DeviceError(f"agent at {self.url} did not answer within {timeout:g} s") from None
            raise DeviceError(f"agent at {self.url} not reachable: {reason}; {START_HINT}") from None
        except (socket.timeout, TimeoutError):
            raise DeviceError(f"agent at {self.url} did not answer within {timeout:g} s") from None
        except ConnectionError as exc:
            raise DeviceError(f"agent at {self.url} dropped the connection ({exc}); {START_HINT}") from None
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise DeviceError(f"{self.url} answered something that is not a dcnas-deploy agent's JSON") from None

    def _http_error(self, exc: urllib.error.HTTPError) -> DeviceError:
        try:
            message = json.loads(exc.read().decode("utf-8")).get("error", "")
        except Exception:
            message = exc.reason
        if exc.code == 401:
            where = f"the token in {self.token_file}" if self.token_file else "the token"
            return DeviceError(f"agent at {self.url} rejected {where} (401: {message}); copy the token file "
                               "the agent uses on the device host")
        return DeviceError(f"agent at {self.url} answered {exc.code}: {message}")

    def health(self) -> Dict[str, Any]:
        """GET /health (no token needed)."""
        return self._request("GET", "/health", auth=False)

    def info(self, refresh: bool = False) -> Dict[str, Any]:
        """GET /info: agent limits, host facts, runtimes with versions and devices."""
        return self._request("GET", "/info?refresh=1" if refresh else "/info", timeout=_INFO_TIMEOUT_S * 4)

    def measure_bundle(self, bundle: bytes, timeout_s: float) -> Dict[str, Any]:
        """POST /measure with a bundle; the agent's JSON answer."""
        return self._request("POST", "/measure", body=bundle, timeout=timeout_s)


class AgentConnection(Connection):
    """Measure on a remote device host through its agent (profile keys: url, token_file, batch limits)."""

    kind = "agent"
    KEYS: ClassVar[Mapping[str, Any]] = {"url": None, "token_file": None, "batch_files": 64, "batch_mb": 64.0,
                                         "timeout_s": None}
    """url: http://host:port of the agent; token_file: the agent's token, copied to this host;
    batch_files / batch_mb: most models / megabytes per request; timeout_s: per-request read
    timeout (default: the agent's per-model timeout x models + 300 s)."""

    @classmethod
    def validate(cls, config: Mapping[str, Any], source: str) -> Dict[str, Any]:
        """Require a http(s) url and a token_file; check the batch limits."""
        merged = super().validate(config, source)
        url = merged.get("url")
        if not isinstance(url, str) or not re.match(r"^https?://[^/\s]+", url):
            raise ConfigError(f"{source}: connection.url must be the agent's http://host:port, got {url!r}")
        if not merged.get("token_file"):
            raise ConfigError(f"{source}: connection.token_file is required for kind 'agent' "
                              "(a copy of the agent's token file)")
        for key in ("batch_files", "batch_mb"):
            value = merged[key]
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
                raise ConfigError(f"{source}: connection.{key} must be a positive number, got {value!r}")
        timeout = merged.get("timeout_s")
        if timeout is not None and (not isinstance(timeout, (int, float)) or timeout <= 0):
            raise ConfigError(f"{source}: connection.timeout_s must be a positive number, got {timeout!r}")
        return merged

    def __init__(self, profile):
        super().__init__(profile)
        self.client = AgentClient(str(self.config["url"]), Path(os.path.expanduser(str(self.config["token_file"]))))
        self._info: Optional[Dict[str, Any]] = None

    def _agent_info(self) -> Dict[str, Any]:
        if self._info is None:
            self._info = self.client.info()
        return self._info

    def reachable(self) -> Tuple[bool, str]:
        """Agent answers, accepts our token, serves the profile's runtime and has its device."""
        try:
            info = self._agent_info()
        except (DeviceError, ConfigError) as exc:
            return False, str(exc)
        runtime = self.profile.runtime
        served = info.get("agent", {}).get("runtimes", [])
        if runtime not in served:
            return False, (f"agent at {self.client.url} serves {served}, not {runtime}; "
                           f"start it there with `--runtime {runtime}`")
        facts = info.get("runtimes", {}).get(runtime, {})
        devices = [str(d) for d in facts.get("devices", [])]
        wanted = _device_marker(runtime, self.profile.runtime_device)
        if wanted and not any(wanted.lower() in d.lower() for d in devices):
            return False, (f"agent at {self.client.url}: {runtime} {facts.get('version')} has no "
                           f"{self.profile.runtime_device} device (it has {devices})")
        host = info.get("host", {})
        emulated = (host.get("cpu_facts") or {}).get("emulation")
        return True, (f"agent at {self.client.url}: {runtime} {facts.get('version')} "
                      f"{self.profile.runtime_device} on {host.get('hostname')} ({host.get('cpu')}"
                      + (f"; EMULATED: {emulated}" if emulated else "") + ")")

    def info(self) -> Dict[str, Any]:
        """The device host's provenance as the agent reports it (same keys as runtimes.host.host_info)."""
        info = self._agent_info()
        runtime = self.profile.runtime
        facts = info.get("runtimes", {}).get(runtime, {})
        out = dict(info.get("host", {}))
        out["runtimes"] = {runtime: facts.get("version")}
        out["devices"] = facts.get("devices", [])
        out["threads"] = self.profile.threads
        out["agent"] = {"url": self.client.url, "version": info.get("agent", {}).get("version")}
        return out

    def measure(self, files: Sequence[Path], protocol: Protocol = Protocol(),
                feeds_or_shapes: Optional[Sequence[Optional[FeedsOrShapes]]] = None,
                progress: Optional[Progress] = None) -> List[Timing]:
        """Send the files in batches, one request each; one Timing per file, in order."""
        files = [Path(f) for f in files]
        feeds = list(feeds_or_shapes) if feeds_or_shapes is not None else [None] * len(files)
        if len(feeds) != len(files):
            raise ConfigError(f"{len(feeds)} feeds/shapes entries for {len(files)} files")
        info = self._agent_info()
        ok, why = self.reachable()
        if not ok:
            raise DeviceError(f"device {self.profile.name} is not reachable: {why}")
        limits = info.get("agent", {})
        max_bytes = min(float(self.config["batch_mb"]) * 2 ** 20, 0.9 * float(limits.get("max_upload_bytes", 2 ** 28)))
        items = [self._item(i, path, fs) for i, (path, fs) in enumerate(zip(files, feeds))]
        timings: List[Timing] = []
        for batch in _batches(items, int(self.config["batch_files"]), max_bytes, self.client.url):
            timings.extend(self._measure_batch(batch, protocol, float(limits.get("timeout_s", 300.0))))
            if progress is not None:
                for k in range(len(timings) - len(batch), len(timings)):
                    progress(k + 1, len(files), files[k])
        return timings

    def _item(self, index: int, path: Path, fs: Optional[FeedsOrShapes]) -> Tuple[ModelEntry, Dict[str, bytes]]:
        """One model as a manifest entry plus the bytes of every file it brings."""
        if path.suffix.lower() not in AGENT_FORMATS:
            raise ConfigError(f"{path.name}: the agent takes {sorted(AGENT_FORMATS)} files")
        if not path.is_file():
            raise ConfigError(f"model file not found: {path}")
        name = _safe_name(index, path)
        blobs = {name: path.read_bytes()}
        weights = None
        if path.suffix.lower() == ".xml":
            bin_path = path.with_suffix(WEIGHTS_SUFFIX)
            if not bin_path.is_file():
                raise ConfigError(f"{path.name}: OpenVINO weights {bin_path.name} not found next to it")
            weights = name[: -len(".xml")] + WEIGHTS_SUFFIX
            blobs[weights] = bin_path.read_bytes()
        specs, arrays = encode_inputs(name, fs)
        blobs.update(arrays)
        return ModelEntry(name, weights, specs), blobs

    def _measure_batch(self, batch: List[Tuple[ModelEntry, Dict[str, bytes]]], protocol: Protocol,
                       agent_timeout_s: float) -> List[Timing]:
        entries = [entry for entry, _ in batch]
        blobs: Dict[str, bytes] = {}
        for _, b in batch:
            blobs.update(b)
        manifest = Manifest(runtime=self.profile.runtime, models=entries, options=self.profile.session_options(),
                            protocol=protocol.to_dict())
        timeout = self.config.get("timeout_s") or agent_timeout_s * len(entries) + _SLACK_S
        answer = self.client.measure_bundle(build_bundle(manifest, blobs), float(timeout))
        results = answer.get("results", [])
        if [r.get("file") for r in results] != [e.file for e in entries]:
            raise DeviceError(f"agent at {self.client.url} answered for {[r.get('file') for r in results]}, "
                              f"asked for {[e.file for e in entries]}")
        return [Timing.from_dict(r["timing"]) for r in results]


def _batches(items: List[Tuple[ModelEntry, Dict[str, bytes]]], max_files: int, max_bytes: float, url: str
             ) -> List[List[Tuple[ModelEntry, Dict[str, bytes]]]]:
    """Split items into requests of at most max_files models and about max_bytes bytes."""
    batches: List[List[Tuple[ModelEntry, Dict[str, bytes]]]] = []
    current: List[Tuple[ModelEntry, Dict[str, bytes]]] = []
    size = 0
    for entry, blobs in items:
        n = sum(len(b) for b in blobs.values())
        if n > max_bytes:
            raise DeviceError(f"{entry.file} is {n / 2 ** 20:.1f} MB, over the {max_bytes / 2 ** 20:.1f} MB a "
                              f"request to the agent at {url} may carry (raise --max-upload-mb there, or "
                              "connection.batch_mb here)")
        if current and (len(current) >= max_files or size + n > max_bytes):
            batches.append(current)
            current, size = [], 0
        current.append((entry, blobs))
        size += n
    if current:
        batches.append(current)
    return batches


def _device_marker(runtime: str, runtime_device: str) -> Optional[str]:
    """What the agent's device list must contain for this runtime device (None: nothing to check)."""
    if runtime == "onnxruntime":
        return "CUDAExecutionProvider" if runtime_device.startswith("cuda") else "CPUExecutionProvider"
    if runtime == "openvino":
        return runtime_device.split(".")[0]
    return None
