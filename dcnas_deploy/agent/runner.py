"""One measurement at a time, in arrival order, in a child process that is killed when it hangs."""
from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

import dcnas_deploy
from dcnas_deploy.agent.bundle import StoredModel


class FifoLock:
    """A lock granted strictly in the order `acquire` was called (a ticket lock)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._next_ticket = 0
        self._serving = 0

    def acquire(self) -> int:
        """Wait for this caller's turn; returns its ticket (arrival number, from 0)."""
        with self._cond:
            ticket = self._next_ticket
            self._next_ticket += 1
            while self._serving != ticket:
                self._cond.wait()
            return ticket

    def release(self) -> None:
        """Hand the lock to the next ticket."""
        with self._cond:
            self._serving += 1
            self._cond.notify_all()

    @property
    def waiting(self) -> int:
        """Callers holding or waiting for the lock."""
        with self._cond:
            return self._next_ticket - self._serving


class MeasureFailed(Exception):
    """A job did not give timings; `status` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int, index: Optional[int] = None):
        super().__init__(message)
        self.status = status
        self.index = index


_STARTUP_TIMEOUT_S = 120.0


class WorkerProcess:
    """The measuring child (`python -m dcnas_deploy.agent.worker`) and a thread reading its answers."""

    def __init__(self) -> None:
        # The child imports this same package, also from an uninstalled checkout; its folder is put
        # first only when not already on the path (never site-packages ahead of the stdlib).
        root = str(Path(dcnas_deploy.__file__).resolve().parents[1])
        code = ("import sys; r = %r\nif r not in sys.path: sys.path.insert(0, r)\n"
                "from dcnas_deploy.agent.worker import main; main()" % root)
        self.proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     universal_newlines=True, bufsize=1)
        self._answers: "queue.Queue[Optional[Dict[str, Any]]]" = queue.Queue()
        threading.Thread(target=self._read, name="agent-worker-reader", daemon=True).start()
        hello = self.next_answer(_STARTUP_TIMEOUT_S)
        if hello is None or not hello.get("ready"):
            self.kill()
            raise MeasureFailed("the measuring process did not start (answer %r, exit code %r); see the agent's log"
                                % (hello, self.proc.poll()), 500)

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                self._answers.put(json.loads(line))
            except json.JSONDecodeError:
                continue
        self._answers.put(None)

    @property
    def pid(self) -> int:
        """The child's process id."""
        return self.proc.pid

    def alive(self) -> bool:
        """Whether the child still runs."""
        return self.proc.poll() is None

    def send(self, job: Dict[str, Any]) -> None:
        """Send one job line."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(job) + "\n")
        self.proc.stdin.flush()

    def next_answer(self, timeout_s: float) -> Optional[Dict[str, Any]]:
        """The next answer; raises queue.Empty after `timeout_s`; None when the child exited."""
        return self._answers.get(timeout=timeout_s)

    def kill(self) -> None:
        """Terminate the child (SIGKILL after 2 s) and reap it."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(2.0)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5.0)
        for pipe in (self.proc.stdin, self.proc.stdout):
            try:
                if pipe is not None:
                    pipe.close()
            except OSError:
                pass


class Runner:
    """Runs measurement jobs one at a time in arrival order, with a per-model timeout.

    A model that runs past its timeout gets its child process killed; the next job starts a fresh
    one, so a hung runtime costs one failed job and nothing else.
    """

    def __init__(self, timeout_s: float):
        self.timeout_s = float(timeout_s)
        self.lock = FifoLock()
        self._worker: Optional[WorkerProcess] = None
        self.restarts = 0
        self.jobs_done = 0

    def _ensure_worker(self) -> WorkerProcess:
        if self._worker is None or not self._worker.alive():
            if self._worker is not None:
                self._worker.kill()
                self.restarts += 1
            self._worker = WorkerProcess()
        return self._worker

    def _drop_worker(self) -> None:
        if self._worker is not None:
            self._worker.kill()
            self._worker = None
            self.restarts += 1

    def facts(self, runtimes: List[str], timeout_s: float = 120.0) -> Dict[str, Any]:
        """Host and runtime facts, gathered in the child (so a hanging runtime import can't hang us)."""
        self.lock.acquire()
        try:
            worker = self._send({"kind": "facts", "runtimes": list(runtimes)})
            try:
                answer = worker.next_answer(timeout_s)
            except queue.Empty:
                self._drop_worker()
                raise MeasureFailed("gathering runtime facts timed out after %.0f s; the runtime process was killed"
                                    % timeout_s, 504)
            if answer is None or "facts" not in answer:
                self._drop_worker()
                raise MeasureFailed("the runtime process died while gathering facts", 500)
            return answer["facts"]
        finally:
            self.lock.release()

    def run(self, runtime: str, options: Dict[str, Any], protocol: Dict[str, Any], models: List[StoredModel],
            timeout_s: Optional[float] = None) -> Dict[str, Any]:
        """Wait for this job's turn, then time every model; returns timings and queue facts.

        Raises MeasureFailed: 400 bad options, 422 a model failed in the runtime, 504 timeout,
        500 the runtime process died.
        """
        limit = self.timeout_s if timeout_s is None else min(float(timeout_s), self.timeout_s)
        arrived = time.monotonic()
        ticket = self.lock.acquire()
        started = time.monotonic()
        try:
            timings = self._run_locked(runtime, options, protocol, models, limit)
            finished = time.monotonic()
            self.jobs_done += 1
            return {"timings": timings,
                    "job": {"ticket": ticket, "queued_s": round(started - arrived, 6), "started": started,
                            "finished": finished, "worker_pid": self._worker.pid if self._worker else None}}
        finally:
            self.lock.release()

    def _send(self, job: Dict[str, Any]) -> WorkerProcess:
        """Send a job to the child, starting a fresh one once if the old one is gone."""
        worker = self._ensure_worker()
        try:
            worker.send(job)
        except OSError:
            self._drop_worker()
            worker = self._ensure_worker()
            worker.send(job)
        return worker

    def _run_locked(self, runtime: str, options: Dict[str, Any], protocol: Dict[str, Any],
                    models: List[StoredModel], limit: float) -> List[Dict[str, Any]]:
        worker = self._send({"runtime": runtime, "options": options, "protocol": protocol,
                             "models": [m.to_dict() for m in models]})
        timings: List[Dict[str, Any]] = []
        while True:
            current = models[min(len(timings), len(models) - 1)]
            try:
                answer = worker.next_answer(limit)
            except queue.Empty:
                pid = worker.pid
                self._drop_worker()
                raise MeasureFailed("measuring %r in %s timed out after %g s; the runtime process (pid %d) was killed "
                                    "and a fresh one serves the next request" % (current.name, runtime, limit, pid),
                                    504, len(timings))
            if answer is None:
                code = worker.proc.poll()
                self._drop_worker()
                raise MeasureFailed("the runtime process died (exit code %s) while measuring %r in %s"
                                    % (code, current.name, runtime), 500, len(timings))
            if answer.get("done"):
                break
            if "error" in answer:
                # the worker stops a job at its first failing model and then says "done"
                status = 400 if answer.get("kind") == "config" else 422
                failure = MeasureFailed("%r in %s: %s" % (current.name, runtime, answer["error"]), status, len(timings))
                self._await_done(worker, limit)
                raise failure
            timings.append(answer["timing"])
        if len(timings) != len(models):
            raise MeasureFailed("the runtime process answered %d timings for %d models" % (len(timings), len(models)), 500)
        return timings

    def _await_done(self, worker: WorkerProcess, limit: float) -> None:
        try:
            answer = worker.next_answer(limit)
        except queue.Empty:
            answer = None
        if not answer or not answer.get("done"):
            self._drop_worker()

    def close(self) -> None:
        """Stop the child process."""
        if self._worker is not None:
            self._worker.kill()
            self._worker = None
