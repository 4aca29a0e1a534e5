"""Shared CLI plumbing: the consoles, parameter types checked at parse time, and error-to-exit-code handling."""
from __future__ import annotations

import functools
import json
import math
from pathlib import Path
from typing import Any, Callable, Optional, Tuple, TypeVar

import typer

from dcnas_deploy.terminal import make_console

console = make_console()
err_console = make_console(stderr=True)

F = TypeVar("F", bound=Callable)


def _show_dcnas_warnings() -> None:
    """Print DcnasWarnings as one yellow line each (once per message); other warnings as usual."""
    import warnings

    from dcnas_deploy.errors import DcnasWarning

    default = warnings.showwarning
    shown: set = set()

    def show(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, DcnasWarning):
            if str(message) not in shown:
                shown.add(str(message))
                err_console.print(f"[yellow]warning:[/] {message}", highlight=False)
            return
        default(message, category, filename, lineno, file, line)

    warnings.showwarning = show
    warnings.simplefilter("always", DcnasWarning)


_show_dcnas_warnings()


def fail(message: str, code: int = 2) -> "typer.Exit":
    """Print an error in red and return the Exit to raise."""
    err_console.print(f"[bold red]error:[/] {message}", markup=True, highlight=False)
    return typer.Exit(code)


def user_errors(fn: F) -> F:
    """Decorator: turn DcnasError (and friends) into a clean message and exit code 2."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from dcnas_deploy.errors import DcnasError

        try:
            return fn(*args, **kwargs)
        except DcnasError as exc:
            raise fail(_escape(str(exc))) from None
        except FileNotFoundError as exc:
            raise fail(_escape(f"file not found: {exc.filename or exc}")) from None
        except (IsADirectoryError, NotADirectoryError, PermissionError) as exc:
            raise fail(_escape(f"cannot use {exc.filename}: {exc.strerror}; give another path")) from None
        except KeyboardInterrupt:
            raise fail("interrupted; finished work was saved, rerun the same command to resume", 130) from None
        except OSError as exc:
            from dcnas_deploy.fileio import disk_full

            if not disk_full(exc):
                raise
            raise fail(_escape(f"no space left on the device to write {exc.filename or 'a file'}: nothing was "
                               f"overwritten (files are written whole or not at all); free some space or write "
                               f"elsewhere, then rerun the same command")) from None

    return wrapper  # type: ignore[return-value]


def _escape(text: str) -> str:
    """Text with rich markup characters escaped (messages quote user input such as '[x]')."""
    from rich.markup import escape

    return escape(text)


class Number:
    """Option parser (`typer.Option(parser=Number(int, min=0))`): an int, or a finite float, inside bounds.

    Unlike typer's min/max, the message names the offending value and the allowed range; NaN and inf
    are refused (click's FloatRange lets NaN through every bound).
    """

    def __init__(self, kind: type = float, min: Optional[float] = None, max: Optional[float] = None,
                 min_open: bool = False, max_open: bool = False):
        self.kind, self.min, self.max, self.min_open, self.max_open = kind, min, max, min_open, max_open
        self.__name__ = kind.__name__

    def __call__(self, value: Any) -> Any:
        """The value converted; ValueError (shown by click with the option's name) when it is not allowed."""
        noun = "an integer" if self.kind is int else "a number"
        try:
            v = self.kind(value) if self.kind is float or isinstance(value, int) else int(str(value).strip())
        except (TypeError, ValueError):
            raise ValueError(f"{value!r} is not {noun}; give {noun}{self._range()}") from None
        if self.kind is float and not math.isfinite(v):
            raise ValueError(f"{value!r} is not a finite number; give a plain number{self._range()}")
        if self.min is not None and (v <= self.min if self.min_open else v < self.min) \
                or self.max is not None and (v >= self.max if self.max_open else v > self.max):
            raise ValueError(f"{value!r} is out of range; give {noun}{self._range()}")
        return v

    def _range(self) -> str:
        lo = "" if self.min is None else f"{'>' if self.min_open else '≥'} {self.min:g}"
        hi = "" if self.max is None else f"{'<' if self.max_open else '≤'} {self.max:g}"
        return f" {' and '.join(p for p in (lo, hi) if p)}" if lo or hi else ""


def require_run(run: Path, option: str) -> Path:
    """`run` if it holds a training run (checkpoint.pt); else a ConfigError saying what to give instead."""
    from dcnas_deploy.errors import ConfigError

    if not (Path(run) / "checkpoint.pt").is_file():
        raise ConfigError(f"{option} {run}: no checkpoint.pt there; give the run directory of "
                          f"`dcnas-deploy train-supernet --out DIR` (it holds checkpoint.pt and preset.yaml)")
    return Path(run)


def shipped_model(model: Path, option: str) -> Path:
    """`model`, or the model.pt of the shipped model of that name when no such path exists (said out loud)."""
    from dcnas_deploy.pretrained import is_pretrained_model, pretrained_model

    if model.exists() or not is_pretrained_model(str(model)):
        return model
    path = pretrained_model(str(model))
    console.print(f"{option} {model}: the shipped model ({path})", highlight=False)
    return path


def shipped_supernet(run: Path, option: str) -> Path:
    """`run`, or the folder of the shipped supernet of that name when no such path exists (said out loud)."""
    from dcnas_deploy.pretrained import resolve_supernet

    if run.exists() or resolve_supernet(str(run)) == run:
        return run
    path = resolve_supernet(str(run))
    console.print(f"{option} {run}: the shipped supernet ({path})", highlight=False)
    return path


def newest_under_runs(find: Callable[[], Optional[Path]], option: str, what: str, how: str,
                      shipped: Optional[Tuple[str, Path]] = None) -> Path:
    """What `find` returns (the newest WHAT under runs/), else the SHIPPED (name, path), said out loud;
    ConfigError saying HOW to make one when there is neither."""
    from dcnas_deploy.errors import ConfigError
    from dcnas_deploy.train.latest import RUNS_ROOT

    found = find()
    if found is not None:
        console.print(f"no {option} given: using the newest {what} under {RUNS_ROOT}/: [b]{found}[/]")
        return found
    if shipped is not None:
        console.print(f"no {option} given and no {what} under {RUNS_ROOT}/: using the shipped [b]{shipped[0]}[/] "
                      f"({shipped[1]})")
        return shipped[1]
    raise ConfigError(f"no {option} given and no {what} under {RUNS_ROOT.resolve()}: {how}")


def print_json(data: Any) -> None:
    """Machine-readable result on stdout (plain print: no wrapping, no markup)."""
    print(json.dumps(data, indent=2, default=str))
