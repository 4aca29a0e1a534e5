"""Shared CLI plumbing: the console and error-to-exit-code handling."""
from __future__ import annotations

import functools
from typing import Callable, TypeVar

import typer
from rich.console import Console

console = Console()
err_console = Console(stderr=True)

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
    err_console.print(f"[bold red]error:[/] {message}")
    return typer.Exit(code)


def user_errors(fn: F) -> F:
    """Decorator: turn DcnasError (and friends) into a clean message and exit code 2."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from dcnas_deploy.errors import DcnasError

        try:
            return fn(*args, **kwargs)
        except DcnasError as exc:
            raise fail(str(exc)) from None
        except FileNotFoundError as exc:
            raise fail(f"file not found: {exc.filename or exc}") from None
        except KeyboardInterrupt:
            raise fail("interrupted; finished work was saved, rerun the same command to resume", 130) from None

    return wrapper  # type: ignore[return-value]
