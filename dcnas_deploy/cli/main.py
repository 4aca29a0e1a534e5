"""`dcnas-deploy` entry point. Each module in this package with a `register(app)` adds its commands.

Command modules import only typer/rich at module top so that `--help` stays instant.
"""
from __future__ import annotations

import importlib
import pkgutil
import sys

import typer

app = typer.Typer(
    name="dcnas-deploy",
    help="Hardware-aware NAS and deployment for guided image super-resolution (DCNAS).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich" if sys.stderr.isatty() else None,  # plain usage errors and help in logs and pipes
)

_SKIP = {"main", "common"}


def _version(value: bool) -> None:
    if value:
        from dcnas_deploy import __version__

        print(f"dcnas-deploy {__version__}")
        raise typer.Exit()


@app.callback()
def main(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                      help="Print the version and exit.")) -> None:
    """Hardware-aware NAS and deployment for guided image super-resolution (DCNAS)."""


def _register_all() -> None:
    """Import every command module of this package and let it register its commands."""
    import dcnas_deploy.cli as pkg

    for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda i: i.name):
        if info.name in _SKIP or info.name.startswith("_"):
            continue
        module = importlib.import_module(f"dcnas_deploy.cli.{info.name}")
        register = getattr(module, "register", None)
        if register is not None:
            register(app)


_register_all()

if __name__ == "__main__":
    app()
