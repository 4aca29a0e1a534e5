"""`dcnas-deploy paths`: where device profiles, presets and LUTs are searched for and where new ones go."""
from __future__ import annotations

import typer

from dcnas_deploy.cli.common import console, print_json, user_errors


def paths(as_json: bool = typer.Option(False, "--json", help="Print the folders as JSON instead of a table.")) -> None:
    """Print every folder searched for device profiles, presets and LUTs (in order) and where new files go."""
    from rich import box
    from rich.markup import escape
    from rich.table import Table

    from dcnas_deploy.datadirs import describe, source_checkout

    kinds = describe()
    root = source_checkout()
    if as_json:
        print_json({"source_checkout": None if root is None else str(root), "kinds": [k.to_dict() for k in kinds]})
        return
    table = Table(title="Data folders", box=box.SIMPLE_HEAD, pad_edge=False,
                  caption="searched top to bottom, the first file of a name wins; (missing): not created yet")
    for col in ("kind", "searched", "new files go to"):
        table.add_column(col, overflow="fold")
    for k in kinds:
        searched = "\n".join(escape(str(p)) + ("" if p.is_dir() else " (missing)") for p in k.search)
        table.add_row(f"{k.kind}\n${k.env}", searched, escape(str(k.new_files)))
    console.print(table)
    console.print("running from the source checkout " + escape(str(root)) if root is not None else
                  "running from an installed package: shipped files are read from the package, new ones go to the "
                  "user folder", highlight=False)


def register(app: typer.Typer) -> None:
    """Add `paths` to the CLI."""
    app.command("paths")(user_errors(paths))
