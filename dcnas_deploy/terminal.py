"""Console output that suits a terminal and a pipe alike: no 80-column cut, progress as lines when piped.

On a terminal: rich tables, live progress bars and spinners. When stdout is a file or a pipe: tables at
their natural width (PIPE_WIDTH at most), no live display, and progress as plain lines (one when a stage
starts, one when it ends, and one every PIPE_EVERY_S seconds in between) so a log shows the job is alive.
"""
from __future__ import annotations

import contextlib
import time
from typing import Any, Callable, Dict, Iterator, Tuple

from rich.console import Console, ConsoleDimensions
from rich.progress import Progress, TaskID

PIPE_WIDTH = 1000
"""Line width when the output is not a terminal: wide enough that no table or path is cut."""
PIPE_EVERY_S = 30.0
"""Seconds between progress lines of one stage when piped."""


class PipeAwareConsole(Console):
    """A rich Console whose width is PIPE_WIDTH, not 80, when its output is not a terminal.

    $COLUMNS is ignored then too: it describes a terminal, and a parent process that loaded GNU readline
    exports it to every child.
    """

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._pipe_width = kwargs.get("width") is None

    @property
    def size(self) -> ConsoleDimensions:
        """The terminal's size, or (PIPE_WIDTH, height) when writing to a file or a pipe."""
        dims = Console.size.fget(self)  # type: ignore[attr-defined]
        if self._pipe_width and not self.is_terminal:
            return ConsoleDimensions(PIPE_WIDTH, dims.height)
        return dims

    @size.setter
    def size(self, new_size) -> None:
        Console.size.fset(self, new_size)  # type: ignore[attr-defined]
        self._pipe_width = False


def make_console(stderr: bool = False) -> PipeAwareConsole:
    """The console every command prints through."""
    return PipeAwareConsole(stderr=stderr)


class LineProgress(Progress):
    """rich Progress that prints plain progress lines instead of live bars when the console is not a terminal."""

    def __init__(self, *columns: Any, console: Console, **kwargs: Any):
        self.piped = not console.is_terminal
        super().__init__(*columns, console=console, disable=self.piped or kwargs.pop("disable", False), **kwargs)
        self._said: Dict[TaskID, Tuple[float, bool]] = {}

    def add_task(self, description: str, *args: Any, **kwargs: Any) -> TaskID:
        """Add a task (printed as a line when piped)."""
        task_id = super().add_task(description, *args, **kwargs)
        self._line(task_id, force=True)
        return task_id

    def update(self, task_id: TaskID, **kwargs: Any) -> None:
        """rich's update, plus a progress line when piped and due."""
        super().update(task_id, **kwargs)
        self._line(task_id, force="description" in kwargs and kwargs["description"] is not None)

    def advance(self, task_id: TaskID, advance: float = 1) -> None:
        """rich's advance, plus a progress line when piped and due."""
        super().advance(task_id, advance)
        self._line(task_id)

    def _line(self, task_id: TaskID, force: bool = False) -> None:
        if not self.piped:
            return
        task = self._tasks[task_id]
        finished = task.total is not None and task.completed >= task.total
        last_time, last_finished = self._said.get(task_id, (None, False))
        now = time.monotonic()
        if last_finished and not force:
            return
        if not (force or last_time is None or finished or now - last_time >= PIPE_EVERY_S):
            return
        self._said[task_id] = (now, finished)
        count = f" {task.completed:g}/{task.total:g}" if task.total is not None else ""
        fields = " ".join(str(v) for v in task.fields.values() if v not in ("", None))
        elapsed = f" ({task.elapsed:.0f} s)" if task.elapsed else ""
        self.console.print(f"{task.description}{count}{elapsed}" + (f" {fields}" if fields else ""),
                           markup=False, highlight=False)


@contextlib.contextmanager
def status(console: Console, text: str) -> Iterator[None]:
    """A spinner on a terminal; one plain line when piped."""
    if console.is_terminal:
        with console.status(text):
            yield
    else:
        console.print(text, markup=False, highlight=False)
        yield


def progress_bars(console: Console) -> Tuple[LineProgress, Callable[[str, int, int], None]]:
    """Progress bars with ETA (lines when piped) and a callback for profile_device's (stage, advance, total)."""
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    bars = LineProgress(TextColumn("{task.description:<12}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                        TextColumn("ETA"), TimeRemainingColumn(), console=console)
    tasks: Dict[str, TaskID] = {}

    def advance(stage: str, n: int, total: int) -> None:
        if stage not in tasks:
            tasks[stage] = bars.add_task(stage, total=total)
        bars.advance(tasks[stage], n)

    return bars, advance
