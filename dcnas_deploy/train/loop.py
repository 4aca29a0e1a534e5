"""The step loop shared by supernet training and fixed-architecture training.

It owns what both need: torch setup, Adam + the halving schedule, rich progress with loss and ETA,
log rows, periodic atomic checkpoints, and a graceful Ctrl-C (the current step finishes, a checkpoint
is written, then KeyboardInterrupt propagates). A resumed run is bit-identical to an uninterrupted
one on CPU because every batch and sampled path is derived from (seed, step), not from RNG history.
"""
from __future__ import annotations

import math
import signal
import threading
import time
from contextlib import contextmanager
from typing import Any, Callable, Dict, Iterator, Optional

import torch

from dcnas_deploy.train.distributed import Dist

StepFn = Callable[[int], Dict[str, Any]]


def setup_torch(threads: int, deterministic: bool) -> None:
    """Thread count (0 = leave torch's default) and deterministic algorithms (warn-only)."""
    if threads > 0:
        torch.set_num_threads(threads)
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False


def make_optimizer(params, lr: float, betas, eps: float) -> torch.optim.Adam:
    """Adam as in the paper (β 0.9/0.99, ε 1e-8 by default)."""
    return torch.optim.Adam(params, lr=lr, betas=tuple(betas), eps=eps)


def make_scheduler(opt: torch.optim.Optimizer, halve_every: int) -> torch.optim.lr_scheduler.LRScheduler:
    """lr × 0.5 every `halve_every` steps (constant when 0)."""
    if halve_every > 0:
        return torch.optim.lr_scheduler.StepLR(opt, step_size=halve_every, gamma=0.5)
    return torch.optim.lr_scheduler.LambdaLR(opt, lambda _: 1.0)


@contextmanager
def graceful_interrupt() -> Iterator[Callable[[], bool]]:
    """While active, SIGINT only sets a flag; yields a function returning whether it was pressed."""
    pressed = {"flag": False}
    if threading.current_thread() is not threading.main_thread():
        yield lambda: False
        return

    def handler(signum, frame):
        if pressed["flag"]:  # second Ctrl-C: stop now
            raise KeyboardInterrupt
        pressed["flag"] = True

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield lambda: pressed["flag"]
    finally:
        signal.signal(signal.SIGINT, previous)


class Progress:
    """Progress bar with step, loss, phase and ETA; plain lines when piped (a no-op when disabled)."""

    def __init__(self, enabled: bool, description: str, total: int, start: int):
        self.enabled = enabled
        if not enabled:
            return
        from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        from dcnas_deploy.terminal import LineProgress, make_console

        self.bar = LineProgress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                                TextColumn("{task.fields[loss]}"), TextColumn("{task.fields[info]}"),
                                TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(), console=make_console())
        self.task = self.bar.add_task(description, total=total, completed=start, loss="loss -", info="")
        self.bar.start()

    def update(self, done: int, loss: float, info: str = "") -> None:
        """Advance to `done` steps."""
        if self.enabled:
            self.bar.update(self.task, completed=done, loss=f"loss {loss:.4f}" if math.isfinite(loss) else "loss -",
                            info=info)

    def close(self) -> None:
        """Stop the live display."""
        if self.enabled:
            self.bar.stop()


def run_steps(dist: Dist, start: int, total: int, step_fn: StepFn, *, after_step: Callable[[int, Dict], None],
              checkpoint: Callable[[int], None], checkpoint_every: int, progress: Progress,
              on_step: Optional[Callable[[int], None]] = None) -> int:
    """Run steps start..total-1; after_step(done, row) logs and refreshes; checkpoint(done) saves.

    Returns the number of completed steps. `on_step(done)` is a hook for tests (e.g. to simulate a kill).
    """
    done = start
    with graceful_interrupt() as interrupted:
        try:
            for step in range(start, total):
                row = step_fn(step)
                done = step + 1
                after_step(done, row)
                stop = interrupted()
                if dist.enabled:  # every rank must stop at the same step
                    stop = bool(dist.sum_array(torch.tensor([float(stop)]).double().numpy())[0] > 0)
                if stop or done % checkpoint_every == 0 or done == total:
                    checkpoint(done)
                progress.update(done, float(row.get("loss", float("nan"))), str(row.get("info", "")))
                if stop:
                    raise KeyboardInterrupt
                if on_step is not None:
                    on_step(done)
        finally:
            progress.close()
    return done


class Timer:
    """Wall time of the run across resumes (bookkeeping for logs, not a latency measurement)."""

    def __init__(self, before: float = 0.0):
        self.before, self.t0 = before, time.perf_counter()

    def elapsed(self) -> float:
        """Seconds including previous segments of this run."""
        return self.before + time.perf_counter() - self.t0
