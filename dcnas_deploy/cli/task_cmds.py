"""`dcnas-deploy tasks`: the GISR tasks, their bands, holes, metrics, baselines and procedural data."""
from __future__ import annotations

import typer

from dcnas_deploy.cli.common import console, print_json, user_errors


def tasks_cmd(as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table.")) -> None:
    """List the tasks a preset can name (`task: thermal`) and what each expects."""
    from rich.table import Table

    from dcnas_deploy.tasks import HIGHER_IS_BETTER, get_task, known_tasks

    tasks = [get_task(n) for n in known_tasks()]
    if as_json:
        print_json([t.to_dict() for t in tasks])
        return
    table = Table(title="tasks")
    for col in ("task", "target", "guide", "units", "holes", "metrics (↑/↓)", "procedural data"):
        table.add_column(col)
    for t in tasks:
        metrics = ", ".join(f"{m}{'↑' if HIGHER_IS_BETTER[m] else '↓'}" for m in t.metrics)
        table.add_row(t.name, f"{t.target_channels}-band {t.target}", f"{t.guide_channels}-band {t.guide}", t.units,
                      "0 and NaN" if t.zero_is_hole else "NaN only", metrics, t.procedural)
    console.print(table)


def register(app: typer.Typer) -> None:
    """Add `tasks`."""
    app.command("tasks")(user_errors(tasks_cmd))
