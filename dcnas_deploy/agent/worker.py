"""The agent's measuring child process: reads jobs as JSON lines, times files, answers JSON lines.

Started by runner.WorkerProcess (``main()``). Its only measuring code is
`dcnas_deploy.runtimes.sessions.time_file` (the one way to time a file). It lives in its own process
so the server can kill it when a runtime hangs.

Protocol (one JSON object per line):
  parent -> child: {"runtime", "options", "protocol", "models": [StoredModel.to_dict(), ...]}
                   or {"kind": "facts", "runtimes": [...]}
  child -> parent: {"ready": true, "pid"} once at start; then per model {"index", "timing"} or
                   {"index", "error", "kind": "config"|"runtime"} (which ends the job early);
                   then {"done": true} per job; {"facts": {...}} for a facts request.
"""
from __future__ import annotations

import json
import os
import sys
from typing import IO, Any, Dict


def _answer(out: IO[str], message: Dict[str, Any]) -> None:
    out.write(json.dumps(message) + "\n")
    out.flush()


def run_job(job: Dict[str, Any], out: IO[str]) -> None:
    """Time every model of one job, answering after each one."""
    from dcnas_deploy.agent.bundle import StoredModel, feeds_for
    from dcnas_deploy.errors import ConfigError
    from dcnas_deploy.runtimes.sessions import time_file
    from dcnas_deploy.runtimes.protocol import Protocol

    try:
        protocol = Protocol.from_dict(job.get("protocol"))
    except (TypeError, ValueError) as exc:
        _answer(out, {"index": 0, "error": "bad protocol: %s" % exc, "kind": "config"})
        _answer(out, {"done": True})
        return
    for index, m in enumerate(job["models"]):
        try:
            stored = StoredModel.from_dict(m)
            timing = time_file(stored.path, job["runtime"], job.get("options") or {}, protocol, feeds_for(stored))
            _answer(out, {"index": index, "timing": timing.to_dict()})
        except ConfigError as exc:
            _answer(out, {"index": index, "error": str(exc), "kind": "config"})
            break
        except Exception as exc:  # a runtime failure of any type is reported, never fatal
            _answer(out, {"index": index, "error": "%s: %s" % (type(exc).__name__, exc), "kind": "runtime"})
            break  # the job fails at its first failing model: don't spend device time on the rest
    _answer(out, {"done": True})


def main() -> None:
    """Serve jobs from stdin until it closes."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the server's to handle; it stops us
    # Our answers go to a private copy of stdout; whatever a runtime prints goes to stderr.
    out = os.fdopen(os.dup(sys.stdout.fileno()), "w")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    _answer(out, {"ready": True, "pid": os.getpid()})
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        try:
            job = json.loads(line)
        except json.JSONDecodeError as exc:
            _answer(out, {"index": -1, "error": "bad job line: %s" % exc, "kind": "config"})
            _answer(out, {"done": True})
            continue
        if job.get("kind") == "facts":
            from dcnas_deploy.agent.facts import agent_facts

            _answer(out, {"facts": agent_facts(job.get("runtimes") or [])})
            continue
        run_job(job, out)
