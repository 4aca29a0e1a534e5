"""`dcnas-deploy train-supernet`, `train`, `predictor fit|eval`, `presets`: training commands."""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Callable, List, Literal, Optional

import typer

from dcnas_deploy.cli.common import Number, console, print_json, require_run, shipped_supernet, user_errors

predictor_app = typer.Typer(help="Fit and evaluate the ranking predictor of a supernet run.", no_args_is_help=True)

DEFAULT_PRESET = "tiny-x8"
CPU_PRESETS = "--preset demo (minutes on 2 cores) or --preset cpu-x8 (about 30 min)"
_PRESET_HELP = (f"Training preset name (profiles/NAME.yaml) or YAML path. Default: {DEFAULT_PRESET} (the paper's GPU "
                "settings), or the run's own when resuming.")
_OLD_PROFILE_HELP = "Deprecated old name of --preset (removed in the next release)."


def _preset_option(preset: Optional[str], old_profile: Optional[str]) -> Optional[str]:
    """--preset, or its deprecated alias --profile (with a warning); both at once is an error."""
    from dcnas_deploy.errors import ConfigError, warn

    if old_profile is None:
        return preset
    if preset is not None:
        raise ConfigError("give --preset only: --profile is its deprecated old name")
    warn("--profile is deprecated for training presets and goes away in the next release: use --preset "
         f"{old_profile} (`profile` stays the LUT command, devices/ the device profiles)")
    return old_profile
TrainDevice = Literal["auto", "cpu", "cuda"]
Loss = Literal["hinge", "ranknet", "l1", "l2"]


def _resolve_preset(name: Optional[str], out: Path, resume: bool, overrides: dict, epochs: Optional[int],
                    steps_key: str):
    """The preset to run: --preset (or the run's own on --resume) with CLI overrides applied."""
    from dcnas_deploy.errors import ConfigError
    from dcnas_deploy.fileio import check_output_path
    from dcnas_deploy.presets import load_preset
    from dcnas_deploy.train.rundir import RunDir

    if epochs is not None and overrides.get(steps_key) is not None:
        raise ConfigError("give --steps or --epochs, not both")
    check_output_path(out, "--out", folder=True)
    if name is None and resume and RunDir(out).preset_path.is_file():
        preset = RunDir(out).read_preset()
    else:
        preset = load_preset(name or DEFAULT_PRESET)
    preset = preset.with_overrides(overrides)
    if epochs is not None:
        from dcnas_deploy.train.supernet import steps_per_epoch

        preset = preset.with_overrides({steps_key: epochs * steps_per_epoch(preset)})
    return preset


def _cpu_cost_watch(preset, name: Optional[str], resume: bool, steps: int) -> Optional[Callable[[int], None]]:
    """When no --preset picked the GPU preset on a CPU: warn now, and report what a step costs after two."""
    if name is not None or resume or preset.name != DEFAULT_PRESET or preset.training.device == "cuda":
        return None
    import torch

    if preset.training.device == "auto" and torch.cuda.is_available():
        return None
    console.print(f"[yellow]warning:[/] no --preset given, so this runs {DEFAULT_PRESET}, the paper's GPU preset "
                  f"({preset.data.patch_size}×{preset.data.patch_size} patches, batch {preset.data.batch_size}, "
                  f"{steps} steps), on the CPU: a step takes minutes here. For a CPU run use {CPU_PRESETS}.")
    marks: List[float] = []

    def on_step(done: int) -> None:
        marks.append(time.perf_counter())
        if len(marks) == 2:
            per = marks[1] - marks[0]
            console.print(f"[yellow]measured:[/] one step took {per:.0f} s here; the {steps - done} steps left "
                          f"would take about {per * (steps - done) / 3600:.1f} h. Ctrl-C and rerun with {CPU_PRESETS} "
                          f"unless that is what you want.")

    return on_step


def _summary(result: dict, what: str) -> None:
    from rich.table import Table

    table = Table(title=f"{what}: {result['run_dir']}")
    table.add_column("")
    table.add_column("value", justify="right")
    table.add_row("steps", str(result["steps"]))
    for k, v in result["val_start"].items():
        table.add_row(f"{k} at start", f"{v:.5f}")
    for k, v in result["val_end"].items():
        table.add_row(f"{k} now", f"{v:.5f}")
    table.add_row("wall time", f"{result['elapsed_s']:.1f} s")
    if "model" in result:
        table.add_row("model", str(result["model"]))
    console.print(table)


def train_supernet_cmd(
        out: Path = typer.Option(..., "--out", "-o", help="Run directory (runs/NAME)."),
        preset_name: Optional[str] = typer.Option(None, "--preset", "-p", help=_PRESET_HELP),
        old_profile: Optional[str] = typer.Option(None, "--profile", hidden=True, help=_OLD_PROFILE_HELP),
        data: Optional[str] = typer.Option(None, help="Dataset spec (synthetic, nyu:PATH, ...); overrides data.spec."),
        constraint: Optional[str] = typer.Option(None, help="Cost τ constrains: params, macs or latency:DEVICE."),
        steps: Optional[int] = typer.Option(None, parser=Number(int, min=1), help="Total steps (overrides training.steps)."),
        epochs: Optional[int] = typer.Option(None, parser=Number(int, min=1),
                                             help="Total epochs (one patch per training image each)."),
        seed: Optional[int] = typer.Option(None, parser=Number(int, min=0), help="Seed (overrides training.seed)."),
        device: Optional[TrainDevice] = typer.Option(None, help="auto, cpu or cuda (overrides training.device)."),
        nproc: int = typer.Option(1, parser=Number(int, min=1, max=256),
                                  help="Data-parallel processes to spawn (gloo on CPU, NCCL on GPUs)."),
        resume: bool = typer.Option(False, "--resume", help="Continue the run in --out from its checkpoint."),
        progress: bool = typer.Option(True, "--progress/--no-progress", help="Show the progress bar.")) -> None:
    """Train a weight-sharing supernet (paper Alg. 1): uniform warm-up, then predictor-guided sampling."""
    from dcnas_deploy.train.supernet import train_supernet

    preset_name = _preset_option(preset_name, old_profile)
    preset = _resolve_preset(preset_name, out, resume, {"data.spec": data, "sampling.constraint": constraint,
                                                    "training.steps": steps, "training.seed": seed,
                                                    "training.device": device}, epochs, "training.steps")
    talk = os.environ.get("RANK", "0") == "0"  # under torchrun only rank 0 prints
    if talk:
        console.print(f"supernet [bold]{preset.name}[/]: width {preset.space.width}, x{preset.space.scale}, "
                      f"{preset.training.steps} steps, data {preset.data.spec}, constraint "
                      f"{preset.sampling.constraint}{' (resuming)' if resume else ''} → {out}")
    watch = _cpu_cost_watch(preset, preset_name, resume, preset.training.steps) if talk and nproc == 1 else None
    result = train_supernet(preset, out, resume, nproc=nproc, progress=progress and talk, on_step=watch)
    if result is None:
        console.print(f"done ({nproc} processes); see {out}/log.csv")
    elif talk:
        _summary(result, "supernet")


def train_cmd(
        arch: Path = typer.Option(..., "--arch", "-a", help="Architecture YAML (dcnas-deploy arch / search output)."),
        out: Path = typer.Option(..., "--out", "-o", help="Run directory (runs/NAME); the model goes to model.pt."),
        preset_name: Optional[str] = typer.Option(None, "--preset", "-p", help=_PRESET_HELP),
        old_profile: Optional[str] = typer.Option(None, "--profile", hidden=True, help=_OLD_PROFILE_HELP),
        data: Optional[str] = typer.Option(None, help="Dataset spec; overrides data.spec."),
        init: Literal["scratch", "supernet"] = typer.Option(
            "scratch", help="scratch, or supernet (copy the path's weights from --supernet)."),
        supernet: Optional[Path] = typer.Option(None, help="Supernet run directory or shipped supernet name (for --init supernet)."),
        steps: Optional[int] = typer.Option(None, parser=Number(int, min=1), help="Total steps (overrides retrain.steps)."),
        epochs: Optional[int] = typer.Option(None, parser=Number(int, min=1),
                                             help="Total epochs (one patch per training image each)."),
        seed: Optional[int] = typer.Option(None, parser=Number(int, min=0), help="Seed (overrides training.seed)."),
        device: Optional[TrainDevice] = typer.Option(None, help="auto, cpu or cuda."),
        nproc: int = typer.Option(1, parser=Number(int, min=1, max=256), help="Data-parallel processes to spawn."),
        resume: bool = typer.Option(False, "--resume", help="Continue the run in --out from its checkpoint."),
        progress: bool = typer.Option(True, "--progress/--no-progress")) -> None:
    """Train one architecture (from scratch or from supernet weights) and save a deployable model.pt."""
    from dcnas_deploy.space import Arch
    from dcnas_deploy.train.retrain import train_arch

    preset_name = _preset_option(preset_name, old_profile)
    a = Arch.from_yaml(arch)
    if supernet is not None:
        supernet = shipped_supernet(supernet, "--supernet")  # a shipped supernet's name, like `search --supernet`
    if preset_name is None and not resume and init == "supernet" and supernet is not None:
        from dcnas_deploy.train.rundir import RunDir

        preset_name = str(RunDir(supernet).preset_path)  # the supernet's own space and data by default
    preset = _resolve_preset(preset_name, out, resume, {"data.spec": data, "retrain.steps": steps,
                                                    "training.seed": seed, "training.device": device},
                             epochs, "retrain.steps")
    console.print(f"train [bold]{arch}[/] ({preset.name}, init {init}): {preset.retrain.steps} steps, "
                  f"data {preset.data.spec}{' (resuming)' if resume else ''} → {out}")
    watch = _cpu_cost_watch(preset, preset_name, resume, preset.retrain.steps) if nproc == 1 else None
    result = train_arch(a, preset, out, init=init, supernet=supernet, resume=resume, nproc=nproc, progress=progress,
                        on_step=watch)
    if result is not None:
        _summary(result, "train")
    else:
        console.print(f"done ({nproc} processes); model in {out}/model.pt")


@predictor_app.command("fit")
@user_errors
def predictor_fit(
        supernet: Path = typer.Option(..., "--supernet", "-s", help="Supernet run directory."),
        loss: Loss = typer.Option("hinge", help="hinge (eq. 17), ranknet, l1 or l2."),
        paths: int = typer.Option(1000, parser=Number(int, min=4),
                                  help="Paths scored with the final weights (reused when already scored)."),
        holdout: float = typer.Option(0.25, parser=Number(float, min=0, max=1, min_open=True, max_open=True),
                                      help="Share of the scored paths held out for `predictor eval`."),
        epochs: Optional[int] = typer.Option(None, parser=Number(int, min=1),
                                             help="Fit epochs (default: predictor.init_epochs)."),
        out: Optional[Path] = typer.Option(None, "--out", "-o", help="Default: RUN/predictor-LOSS.pt.")) -> None:
    """Fit a fresh predictor on paths scored with the run's final supernet weights."""
    from dcnas_deploy.fileio import check_output_path
    from dcnas_deploy.train.predictor_runs import fit_on_run
    from dcnas_deploy.terminal import LineProgress

    require_run(supernet, "--supernet")
    if out is not None:
        check_output_path(out, "--out", suffixes=(".pt",))
    with LineProgress(console=console, transient=True) as bar:
        task = bar.add_task("scoring paths", total=None)
        report = fit_on_run(supernet, loss, paths=paths, holdout=holdout, epochs=epochs, out=out,
                            on_path=lambda i: bar.advance(task), on_total=lambda n: bar.update(task, total=n))
    h = report.heldout
    console.print(f"[green]wrote[/] {report.path}: {loss} loss, {report.train_paths} training paths, final fit loss "
                  f"{report.history[-1]:.4f}; held-out ({h['n']} paths) Kendall τ {h['kendall']:.3f}, "
                  f"Spearman {h['spearman']:.3f}")


@predictor_app.command("eval")
@user_errors
def predictor_eval(
        supernet: Path = typer.Option(..., "--supernet", "-s", help="Supernet run directory."),
        predictor: Optional[List[Path]] = typer.Option(None, "--predictor", help="Predictor file(s); default: "
                                                       "every RUN/predictor*.pt."),
        png: Optional[Path] = typer.Option(None, help="Rank scatter PNG (default: RUN/predictor_ranks.png).")) -> None:
    """Kendall τ and Spearman ρ on the held-out scored paths, plus a predicted-vs-true rank scatter."""
    from rich.table import Table

    from dcnas_deploy.fileio import check_output_path
    from dcnas_deploy.train.predictor_runs import eval_on_run

    require_run(supernet, "--supernet")
    png = check_output_path(png or supernet / "predictor_ranks.png", "--png", suffixes=(".png",))
    metrics = eval_on_run(supernet, predictor or (), png)
    table = Table(title=f"predictors of {supernet} on held-out paths")
    for col in ("predictor", "paths", "Kendall τ", "Spearman ρ"):
        table.add_column(col, justify="left" if col == "predictor" else "right")
    for name, m in metrics.items():
        table.add_row(name, str(m["n"]), f"{m['kendall']:.3f}", f"{m['spearman']:.3f}")
    console.print(table)
    console.print(f"rank scatter: {png}")


def presets_cmd(name: Optional[str] = typer.Argument(None, help="Show this preset's full YAML."),
                as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table / YAML.")) -> None:
    """List the presets in profiles/ (or print one, validated)."""
    from rich.table import Table

    from dcnas_deploy.presets import known_presets, load_preset

    if name is not None:
        preset = load_preset(name)
        if as_json:
            print_json(preset.to_dict())
        else:
            print(preset.to_yaml(), end="")  # plain print: `presets demo > my.yaml` must round-trip
        return
    rows = [(n, load_preset(n)) for n in known_presets()]
    if as_json:
        print_json([{"name": n, "task": p.task, "width": p.space.width, "scale": p.space.scale, "steps": p.training.steps,
                     "description": p.description, "source": p.source} for n, p in rows])
        return
    table = Table(title="presets")
    for col in ("name", "task", "width", "scale", "steps", "description"):
        table.add_column(col)
    for n, p in rows:
        table.add_row(n, p.task, str(p.space.width), str(p.space.scale), str(p.training.steps), p.description)
    console.print(table)


def register(app: typer.Typer) -> None:
    """Add the training commands to the main CLI."""
    app.command("train-supernet")(user_errors(train_supernet_cmd))
    app.command("train")(user_errors(train_cmd))
    app.command("presets")(user_errors(presets_cmd))
    app.add_typer(predictor_app, name="predictor")
