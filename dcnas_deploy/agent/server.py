"""The agent's HTTP server: /health, /info and /measure, token-protected, one measurement at a time.

Stdlib only (http.server), Python 3.8. Measuring happens in a child process (see runner.py).
"""
from __future__ import annotations

import hmac
import json
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple
from urllib.parse import parse_qs, urlsplit

from dcnas_deploy import __version__
from dcnas_deploy.agent.bundle import BUNDLE_VERSION, CONTENT_TYPE, BundleError, unpack_bundle
from dcnas_deploy.agent.runner import MeasureFailed, Runner
from dcnas_deploy.runtimes.table import AGENT_FORMATS, AGENT_RUNTIMES

MIB = 2 ** 20
_CHUNK = MIB
_DRAIN_CAP = 16 * MIB
"""An unwanted body (no token, too large) is read and dropped up to this size so the client sees our
answer; past it the connection is just closed."""


@dataclass
class AgentConfig:
    """How an agent runs: address, secret, limits and the runtimes it serves."""

    token: str
    host: str = "127.0.0.1"
    port: int = 8765
    max_upload_bytes: int = 256 * MIB
    timeout_s: float = 300.0
    runtimes: Tuple[str, ...] = ()
    max_queue: int = 256
    read_timeout_s: float = 120.0
    tmp_parent: Optional[str] = None
    extra: Dict[str, Any] = field(default_factory=dict)


class AgentServer(ThreadingHTTPServer):
    """ThreadingHTTPServer holding the config, the runner, the facts and a private temp dir."""

    daemon_threads = True
    request_queue_size = 128
    allow_reuse_address = True

    def __init__(self, config: AgentConfig, facts: Dict[str, Any], runner: Runner):
        self.config = config
        self.facts = facts
        self.runner = runner
        self.tmp_root = Path(tempfile.mkdtemp(prefix="dcnas-agent-", dir=config.tmp_parent))  # mode 0700
        try:
            super().__init__((config.host, config.port), AgentHandler)
        except BaseException:
            shutil.rmtree(str(self.tmp_root), ignore_errors=True)
            raise

    def server_close(self) -> None:
        """Close the socket, stop the measuring process and remove the temp dir."""
        super().server_close()
        self.runner.close()
        shutil.rmtree(str(self.tmp_root), ignore_errors=True)

    @property
    def url(self) -> str:
        """http://host:port this server listens on."""
        host, port = self.server_address[:2]
        return "http://%s:%d" % (host, port)  # type: ignore[str-bytes-safe]  # AF_INET: host is a str


class AgentHandler(BaseHTTPRequestHandler):
    """Routes requests; every answer is JSON; errors are {"error": message}."""

    server: AgentServer
    server_version = "dcnas-agent/" + __version__
    protocol_version = "HTTP/1.0"

    @property
    def timeout(self) -> float:  # type: ignore[override]
        """Socket timeout while reading a request (slow or stuck clients are dropped)."""
        return self.server.config.read_timeout_s

    # ---------------------------------------------------------------- plumbing

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        """One line per request on stderr (never the token)."""
        sys.stderr.write("dcnas-agent %s %s\n" % (self.address_string(), format % args))

    def _send_json(self, status: int, body: Dict[str, Any], headers: Optional[Dict[str, str]] = None) -> None:
        data = json.dumps(body).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, message: str, **extra: Any) -> None:
        body = {"error": message, "status": status}
        body.update(extra)
        headers = {"WWW-Authenticate": 'Bearer realm="dcnas-agent"'} if status == 401 else None
        self._send_json(status, body, headers)

    def _authorised(self) -> bool:
        """Check the bearer token (constant-time); answer 401 and return False when it is wrong."""
        header = self.headers.get("Authorization", "")
        scheme, _, given = header.partition(" ")
        if scheme.lower() != "bearer" or not given.strip():
            self._error(401, "missing token: send the header 'Authorization: Bearer <token>' "
                             "(the token is in the agent's token file)")
            return False
        if not hmac.compare_digest(given.strip().encode("utf-8"), self.server.config.token.encode("utf-8")):
            self._error(401, "wrong token: the host's token file does not match this agent's")
            return False
        return True

    def _content_length(self) -> Optional[int]:
        raw = self.headers.get("Content-Length")
        if raw is None:
            return None
        try:
            n = int(raw)
        except ValueError:
            return -1
        return n

    def _discard_body(self) -> None:
        """Read and drop an unwanted request body (up to a cap) so the client can read our answer."""
        n = self._content_length() or 0
        if n <= 0 or n > _DRAIN_CAP:
            self.close_connection = True
            return
        try:
            while n > 0:
                chunk = self.rfile.read(min(_CHUNK, n))
                if not chunk:
                    break
                n -= len(chunk)
        except OSError:
            pass

    def _path(self) -> Tuple[str, Dict[str, List[str]]]:
        parts = urlsplit(self.path)
        return parts.path.rstrip("/") or "/", parse_qs(parts.query)

    # ---------------------------------------------------------------- routes

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        """/health (no token) and /info."""
        path, query = self._path()
        if path == "/health":
            runner = self.server.runner
            self._send_json(200, {"status": "ok", "version": __version__, "waiting": runner.lock.waiting,
                                  "jobs_done": runner.jobs_done, "worker_restarts": runner.restarts})
        elif path == "/info":
            if not self._authorised():
                return
            self._info(refresh="1" in query.get("refresh", []))
        else:
            self._error(404, "no such endpoint %r; endpoints: GET /health, GET /info, POST /measure" % path)

    def do_POST(self) -> None:  # noqa: N802 - stdlib name
        """/measure."""
        path, _ = self._path()
        if path != "/measure":
            self._discard_body()
            self._error(404, "no such endpoint %r; endpoints: GET /health, GET /info, POST /measure" % path)
            return
        if not self._authorised():
            self._discard_body()
            return
        self._measure()

    def do_PUT(self) -> None:  # noqa: N802 - stdlib name
        """Not allowed."""
        self._discard_body()
        self._error(405, "method not allowed; endpoints: GET /health, GET /info, POST /measure")

    do_DELETE = do_PUT
    do_PATCH = do_PUT

    # ---------------------------------------------------------------- handlers

    def _info(self, refresh: bool) -> None:
        config, runner = self.server.config, self.server.runner
        if refresh:
            try:
                self.server.facts = runner.facts(list(config.runtimes))
            except MeasureFailed as exc:
                self._error(exc.status, str(exc))
                return
        facts = self.server.facts
        self._send_json(200, {
            "agent": {"version": __version__, "bundle_version": BUNDLE_VERSION, "runtimes": list(config.runtimes),
                      "formats": sorted(AGENT_FORMATS), "max_upload_bytes": config.max_upload_bytes,
                      "timeout_s": config.timeout_s, "max_queue": config.max_queue},
            "host": facts.get("host", {}),
            "runtimes": facts.get("runtimes", {}),
            "queue": {"waiting": runner.lock.waiting, "jobs_done": runner.jobs_done,
                      "worker_restarts": runner.restarts},
        })

    def _measure(self) -> None:
        config = self.server.config
        length = self._content_length()
        if length is None:
            self._error(411, "Content-Length is required")
            self.close_connection = True
            return
        if length < 0:
            self._error(400, "bad Content-Length %r" % self.headers.get("Content-Length"))
            self.close_connection = True
            return
        if length > config.max_upload_bytes:
            self._error(413, "upload of %d bytes is over this agent's limit of %d bytes (--max-upload-mb); "
                             "send fewer models per request" % (length, config.max_upload_bytes))
            self._discard_body()
            return
        ctype = self.headers.get("Content-Type", "").split(";")[0].strip()
        if ctype != CONTENT_TYPE:
            self._discard_body()
            self._error(400, "Content-Type must be %s (a zip bundle), got %r" % (CONTENT_TYPE, ctype))
            return
        if self.server.runner.lock.waiting >= config.max_queue:
            self._discard_body()
            self._error(503, "queue full (%d requests waiting); retry later" % config.max_queue,
                        retry_after_s=30)
            return
        workdir = Path(tempfile.mkdtemp(prefix="req-", dir=str(self.server.tmp_root)))
        try:
            answer = self._measure_in(workdir, config, length)
        except Exception as exc:  # never leave a client without an answer
            self.log_message("request failed: %s: %s", type(exc).__name__, exc)
            status, message = 500, "the agent failed on this request (%s: %s); see its log" % (type(exc).__name__, exc)
            answer = lambda: self._error(status, message)  # noqa: E731
        finally:
            shutil.rmtree(str(workdir), ignore_errors=True)  # before answering: the client may look right after
        if answer is not None:
            answer()

    def _measure_in(self, workdir: Path, config, length: int):
        """Receive, unpack and measure one bundle in `workdir`; returns the answer to send (None if sent)."""
        blob = workdir / "request.zip"
        if not self._receive(blob, length):
            return None
        try:
            manifest, models = unpack_bundle(blob, workdir, config.max_upload_bytes)
        except BundleError as exc:
            status, message = exc.status, str(exc)
            return lambda: self._error(status, message)
        finally:
            blob.unlink()
        if manifest.runtime not in config.runtimes:
            return lambda: self._error(400, "this agent serves %s, not %r; start it with `--runtime %s` on a host that "
                                       "has it" % (list(config.runtimes), manifest.runtime, manifest.runtime))
        try:
            out = self.server.runner.run(manifest.runtime, manifest.options, manifest.protocol, models,
                                         manifest.timeout_s)
        except MeasureFailed as exc:
            extra = {"file": models[exc.index].name} if exc.index is not None and exc.index < len(models) else {}
            status, message = exc.status, str(exc)
            return lambda: self._error(status, message, **extra)
        runtime_facts = self.server.facts.get("runtimes", {}).get(manifest.runtime, {})
        body = {"results": [{"file": m.name, "timing": t} for m, t in zip(models, out["timings"])],
                "runtime": manifest.runtime, "runtime_version": runtime_facts.get("version"),
                "options": manifest.options, "job": out["job"]}
        return lambda: self._send_json(200, body)

    def _receive(self, dest: Path, length: int) -> bool:
        """Stream the request body into `dest` (mode 0600); answer 400 and return False if it is cut short."""
        remaining = length
        fd = os.open(str(dest), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            while remaining > 0:
                try:
                    chunk = self.rfile.read(min(_CHUNK, remaining))
                except OSError as exc:
                    self.close_connection = True
                    self.log_message("reading the body failed: %s", exc)
                    return False
                if not chunk:
                    self._error(400, "request body ended after %d of %d bytes" % (length - remaining, length))
                    self.close_connection = True
                    return False
                fh.write(chunk)
                remaining -= len(chunk)
        return True


INSTALL_HINTS = {
    "onnxruntime": "pip install onnxruntime (on a Jetson: NVIDIA's onnxruntime-gpu wheel for its JetPack)",
    "openvino": "pip install 'openvino==2022.3.*' for an NCS2 (MYRIAD), any recent openvino for CPU/GPU/NPU",
    "litert": "pip install ai-edge-litert (or tflite-runtime on older hosts)",
}
"""How to install each runtime on a device host (the package extras pin host-side versions)."""


def available_runtimes(facts: Dict[str, Any]) -> List[str]:
    """Runtimes the facts report as loadable."""
    return [r for r, f in facts.get("runtimes", {}).items() if f.get("available")]


def make_server(config: AgentConfig) -> AgentServer:
    """Gather facts (in the measuring child), check the runtimes and bind the server.

    Raises RuntimeError naming what is missing when no requested runtime can load.
    """
    runner = Runner(config.timeout_s)
    wanted = list(config.runtimes) or list(AGENT_RUNTIMES)
    try:
        facts = runner.facts(wanted)
    except MeasureFailed:
        runner.close()
        raise
    usable = available_runtimes(facts)
    missing = [r for r in config.runtimes if r not in usable]
    if missing or not usable:
        runner.close()
        failed = missing or wanted
        reasons = "; ".join("%s: %s" % (r, facts["runtimes"][r].get("why")) for r in failed)
        hints = "; ".join("%s: %s" % (r, INSTALL_HINTS[r]) for r in failed if r in INSTALL_HINTS)
        raise RuntimeError("runtime(s) %s cannot load on this host (%s). To install: %s" % (failed, reasons, hints))
    config.runtimes = tuple(usable if not config.runtimes else config.runtimes)
    try:
        return AgentServer(config, facts, runner)
    except OSError:
        runner.close()
        raise
