"""`dcnas-deploy models`: every shipped model with the device it was made for, its measured speed and quality."""
from __future__ import annotations

import typer

from dcnas_deploy.cli.common import console, fail, print_json, user_errors


def models(as_json: bool = typer.Option(False, "--json", help="Print the cards as JSON instead of a table.")) -> None:
    """List the shipped models: device and budget they were made for, measured fps, Middlebury RMSE."""
    from rich import box
    from rich.markup import escape
    from rich.table import Table

    from dcnas_deploy.pretrained import available_pretrained, missing_card_field

    cards = available_pretrained("model")
    if as_json:
        print_json({"models": cards})
        return
    table = Table(title="Shipped models", box=box.SIMPLE_HEAD, pad_edge=False,
                  caption="latency: end to end, median (p10–p90), measured on the host named, 1 image; "
                          "Middlebury: 30 real pairs, RMSE in 0-255 (never trained on); use a model by name in "
                          "upsample, evaluate, export and benchmark")
    for col in ("name", "scale", "made for", "budget", "HR", "ms", "fps", "params", "Middlebury RMSE (JBU)",
                "measured on"):
        table.add_column(col, justify="right" if col in ("ms", "fps", "params") else "left", overflow="fold")
    bad = []
    for name, card in cards.items():
        missing = missing_card_field(card)
        if missing is not None:
            bad.append(name)
            table.add_row(escape(name), f"×{card.get('scale', '?')}", f"[red]card has no '{missing}'[/]",
                          "", "", "", "", "", "", "")
            continue
        sp, mb = card["speed"], card["metrics"]["middlebury"]
        budget = card["budget"]
        btext = (f"{budget['latency']} on {budget['device']}" if "latency" in budget
                 else ", ".join(f"{k} ≤ {v}" for k, v in budget.items()))
        table.add_row(escape(name), f"×{card['scale']}", f"{sp['device']} ({sp['runtime']}, {sp['threads']} thr)",
                      escape(btext), "x".join(str(v) for v in sp["hr"]),
                      f"{sp['median_ms']:.1f} ({sp['p10_ms']:.1f}–{sp['p90_ms']:.1f})", f"{sp['fps']:.1f}",
                      f"{card['params']:,}", f"{mb['ours']['rmse']:.3f} ({mb['jbu']['rmse']:.3f})",
                      escape(f"{sp['host']}, {sp['date'][:10]}"))
    console.print(table)
    if bad:
        raise fail(f"{len(bad)} shipped card(s) incomplete: {', '.join(bad)} (see above)")


def register(app: typer.Typer) -> None:
    """Add `models`."""
    app.command("models")(user_errors(models))
