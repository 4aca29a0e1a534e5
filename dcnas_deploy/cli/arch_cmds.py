"""`dcnas-deploy arch sample|show|validate`: create and inspect architecture YAML files."""
from __future__ import annotations

from pathlib import Path
from typing import Literal, Optional

import typer

from dcnas_deploy.cli.common import Number, console, print_json, user_errors

Scale = Literal[2, 4, 8, 16]
"""The search space's upscaling factors (a parse-time choice)."""

arch_app = typer.Typer(help="Create, inspect and validate architecture YAML files.", no_args_is_help=True)


@arch_app.command("sample")
@user_errors
def sample(seed: int = typer.Option(0, parser=Number(int, min=0), help="Random seed."),
           out: Path = typer.Option(..., "-o", "--out", help="Where to write the YAML.")) -> None:
    """Write a uniformly random architecture."""
    from dcnas_deploy.fileio import check_output_path
    from dcnas_deploy.space import SearchSpace

    check_output_path(out, "--out", suffixes=(".yaml", ".yml"))
    arch = SearchSpace().sample(seed)
    arch.to_yaml(out)
    console.print(f"wrote {out}")


@arch_app.command("validate")
@user_errors
def validate(path: Path) -> None:
    """Check an architecture YAML; every mistake is listed with its stage and slot."""
    from dcnas_deploy.space import Arch

    from dcnas_deploy.space import SearchSpace

    arch = Arch.from_yaml(path)
    console.print(f"[green]ok[/] {path}: {len(SearchSpace().live_ops(arch))} live ops, "
                  f"{SearchSpace().params(arch):,} params at width 8")


@arch_app.command("show")
@user_errors
def show(path: Path,
         width: Optional[int] = typer.Option(None, parser=Number(int, min=4, max=256),
                                             help="Base width C (stage widths C·2^i); default: the space the "
                                                  "architecture was searched in, else 8."),
         scale: Optional[Scale] = typer.Option(None, help="Upscaling factor; default: the searched space's, else 8."),
         hr: Optional[str] = typer.Option(None, help="HR size HxW for MACs; default: the searched space's, else "
                                                     "256x256."),
         ops: bool = typer.Option(False, "--ops", help="Also list every live op."),
         as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON instead of a table.")) -> None:
    """Table of stages, live ops, params and MACs."""
    from dcnas_deploy.space import Arch, SearchSpace, parse_hw

    arch = Arch.from_yaml(path)
    found = arch.meta.get("space")
    searched: dict = found if isinstance(found, dict) else {}
    space = SearchSpace(width=width if width is not None else int(searched.get("width", 8)),
                        scale=int(scale if scale is not None else searched.get("scale", 8)),
                        hr_size=parse_hw(hr) if hr else tuple(searched.get("hr_size", (256, 256))))
    summary = arch_summary(space, arch)
    if as_json:
        print_json({"path": str(path), "width": space.width, "scale": space.scale, "hr": list(space.hr_size),
                    **summary})
        return
    _print_summary(summary, f"{path}  (C={space.width}, x{space.scale}, HR {space.hr_size[0]}x{space.hr_size[1]})",
                   ops)


def arch_summary(space, arch) -> dict:
    """Per-stage blocks, fusion, liveness, live ops, params and MACs, the rest, the total, and every live op."""
    from dcnas_deploy.space.genes import LEVELS, SLOTS

    live = space.live_ops(arch)
    by_stage: dict = {}
    for lo in live:
        stage = lo.role.rsplit(".", 1)[0] if ".stage" in lo.role else lo.role
        agg = by_stage.setdefault(stage, [0, 0, 0])
        agg[0] += 1
        agg[1] += lo.op.params
        agg[2] += lo.op.macs
    stages = []
    for branch in ("target_encoder", "guide_encoder", "decoder"):
        levels = range(LEVELS) if branch != "decoder" else range(LEVELS - 1, -1, -1)
        for lv in levels:
            n, p, m = by_stage.get(f"{branch}.stage{lv}", (0, 0, 0))
            stages.append({"stage": f"{branch}.stage{lv}", "blocks": [arch.block(branch, lv, s) for s in range(SLOTS)],
                           "fusion": arch.fusion(lv) if branch == "decoder" else None,
                           "alive": _stage_live(space, arch, branch, lv), "live_ops": n, "params": p, "macs": m})
    rest = [v for k, v in by_stage.items() if ".stage" not in k]
    return {"stages": stages,
            "other": {"live_ops": sum(v[0] for v in rest), "params": sum(v[1] for v in rest),
                      "macs": sum(v[2] for v in rest)},
            "total": {"live_ops": len(live), "params": space.params(arch), "macs": space.macs(arch)},
            "ops": [{"role": lo.role, "op": lo.op.key, "params": lo.op.params, "macs": lo.op.macs} for lo in live]}


def _print_summary(summary: dict, title: str, ops: bool) -> None:
    from rich.table import Table

    table = Table(title=title)
    for col in ("stage", "blocks", "fusion", "live ops", "params", "MMACs"):
        table.add_column(col, justify="right" if col in ("live ops", "params", "MMACs") else "left", no_wrap=True)
    for st in summary["stages"]:
        branch, level = st["stage"].split(".stage")
        label = f"{branch.split('_')[0]} s{level}" + ("" if st["alive"] else " [dim](dead)[/]")
        table.add_row(label, " ".join(st["blocks"]), st["fusion"] or "", str(st["live_ops"]), f"{st['params']:,}",
                      f"{st['macs'] / 1e6:.1f}")
    rest, total = summary["other"], summary["total"]
    table.add_row("stems, samplers, head, lr_up", "", "", str(rest["live_ops"]), f"{rest['params']:,}",
                  f"{rest['macs'] / 1e6:.1f}")
    table.add_row("[b]total[/]", "", "", str(total["live_ops"]), f"[b]{total['params']:,}[/]",
                  f"[b]{total['macs'] / 1e6:.1f}[/]")
    console.print(table)
    if ops:
        for op in summary["ops"]:
            console.print(f"  {op['role']:36s} {op['op']:32s} params={op['params']:,} MACs={op['macs']:,}",
                          markup=False)


def _stage_live(space, arch, branch: str, level: int) -> bool:
    """Whether a stage is computed in this architecture."""
    lv = space.liveness(arch.array())
    return bool({"target_encoder": lv.target, "guide_encoder": lv.guide, "decoder": lv.decoder}[branch][0, level])


def register(app: typer.Typer) -> None:
    """Add the `arch` command group."""
    app.add_typer(arch_app, name="arch")
