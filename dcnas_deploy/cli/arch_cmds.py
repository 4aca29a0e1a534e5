"""`dcnas-deploy arch sample|show|validate`: create and inspect architecture YAML files."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from dcnas_deploy.cli.common import console, user_errors

arch_app = typer.Typer(help="Create, inspect and validate architecture YAML files.", no_args_is_help=True)


def parse_hw(text: str) -> tuple:
    """'256x256' / '480x640' / '256' → (H, W)."""
    from dcnas_deploy.errors import ConfigError

    parts = text.lower().replace("×", "x").split("x")
    try:
        vals = [int(p) for p in parts]
    except ValueError:
        raise ConfigError(f"size '{text}' is not HxW like 256x256") from None
    if len(vals) == 1:
        vals = vals * 2
    if len(vals) != 2 or min(vals) <= 0:
        raise ConfigError(f"size '{text}' is not HxW like 256x256")
    return tuple(vals)


@arch_app.command("sample")
@user_errors
def sample(seed: int = typer.Option(0, help="Random seed."),
           out: Path = typer.Option(..., "-o", "--out", help="Where to write the YAML.")) -> None:
    """Write a uniformly random architecture."""
    from dcnas_deploy.space import SearchSpace

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
         width: int = typer.Option(8, help="Base width C (stage widths C·2^i)."),
         scale: int = typer.Option(8, help="Upscaling factor."),
         hr: str = typer.Option("256x256", help="HR size HxW for MACs."),
         ops: bool = typer.Option(False, "--ops", help="Also list every live op.")) -> None:
    """Table of stages, live ops, params and MACs."""
    from rich.table import Table

    from dcnas_deploy.space import Arch, SearchSpace
    from dcnas_deploy.space.genes import LEVELS, SLOTS

    arch = Arch.from_yaml(path)
    space = SearchSpace(width=width, scale=scale, hr_size=parse_hw(hr))
    live = space.live_ops(arch)
    by_stage: dict = {}
    for lo in live:
        stage = lo.role.rsplit(".", 1)[0] if ".stage" in lo.role else lo.role
        agg = by_stage.setdefault(stage, [0, 0, 0])
        agg[0] += 1
        agg[1] += lo.op.params
        agg[2] += lo.op.macs
    table = Table(title=f"{path}  (C={width}, x{scale}, HR {space.hr_size[0]}x{space.hr_size[1]})")
    for col in ("stage", "blocks", "fusion", "live ops", "params", "MMACs"):
        table.add_column(col, justify="right" if col in ("live ops", "params", "MMACs") else "left", no_wrap=True)
    for branch in ("target_encoder", "guide_encoder", "decoder"):
        levels = range(LEVELS) if branch != "decoder" else range(LEVELS - 1, -1, -1)
        for lv in levels:
            key = f"{branch}.stage{lv}"
            n, p, m = by_stage.get(key, (0, 0, 0))
            blocks = " ".join(arch.block(branch, lv, s) for s in range(SLOTS))
            fusion = arch.fusion(lv) if branch == "decoder" else ""
            alive = _stage_live(space, arch, branch, lv)
            label = f"{branch.split('_')[0]} s{lv}" + ("" if alive else " [dim](dead)[/]")
            table.add_row(label, blocks, fusion, str(n), f"{p:,}", f"{m / 1e6:.1f}")
    rest = [v for k, v in by_stage.items() if ".stage" not in k]
    table.add_row("stems, samplers, head, lr_up", "", "", str(sum(v[0] for v in rest)),
                  f"{sum(v[1] for v in rest):,}", f"{sum(v[2] for v in rest) / 1e6:.1f}")
    table.add_row("[b]total[/]", "", "", str(len(live)), f"[b]{space.params(arch):,}[/]",
                  f"[b]{space.macs(arch) / 1e6:.1f}[/]")
    console.print(table)
    if ops:
        for lo in live:
            console.print(f"  {lo.role:36s} {lo.op.key:32s} params={lo.op.params:,} MACs={lo.op.macs:,}")


def _stage_live(space, arch, branch: str, level: int) -> bool:
    """Whether a stage is computed in this architecture."""
    lv = space.liveness(arch.array())
    return bool({"target_encoder": lv.target, "guide_encoder": lv.guide, "decoder": lv.decoder}[branch][0, level])


def register(app: typer.Typer) -> None:
    """Add the `arch` command group."""
    app.add_typer(arch_app, name="arch")
