"""`dcnas-deploy search`: constrained evolutionary search with closed-loop latency verification."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Dict, List, Literal, Optional

import typer

from dcnas_deploy.cli.common import Number, console, newest_under_runs, require_run, shipped_supernet, user_errors

if TYPE_CHECKING:
    from dcnas_deploy.lut.table import LUT
    from dcnas_deploy.runtimes.protocol import Protocol
    from dcnas_deploy.space import SearchSpace


Strategy = Literal["evolution+predictor", "evolution", "random"]


def search(supernet: Optional[Path] = typer.Option(None, "--supernet", help="Run directory of `dcnas-deploy "
                                                   "train-supernet` or a shipped supernet's name (supernet-x4, "
                                                   "supernet-x8); default: the newest run under runs/, else the "
                                                   "shipped default."),
           out: Path = typer.Option(Path("arch.yaml"), "--out", "-o", help="Where to write the found architecture."),
           latency: List[str] = typer.Option([], "--latency", help="Latency budget (40ms, '40 ms', 0.04s, 40000us, 40); repeat with --device."),
           device: List[str] = typer.Option([], "--device", "-d", help="Device of the matching --latency (default: cpu)."),
           params: Optional[str] = typer.Option(None, "--params", help="Parameter budget (0.6M, 600k)."),
           macs: Optional[str] = typer.Option(None, "--macs", help="MAC budget (2G) at --hr."),
           hr: Optional[str] = typer.Option(None, "--hr", help="Deployment HR size HxW the LUT/MACs are costed at (default: the preset's space.hr_size)."),
           strategy: Strategy = typer.Option("evolution+predictor", help="evolution+predictor | evolution | random."),
           predictor: Optional[Path] = typer.Option(None, "--predictor", help="Predictor that picks the initial "
                                                    "population (default: the run's predictor.pt, refreshed during "
                                                    "training); e.g. one from `dcnas-deploy predictor fit`."),
           iterations: Optional[int] = typer.Option(None, parser=Number(int, min=1),
                                                    help="Override the preset's search iterations."),
           population: Optional[int] = typer.Option(None, parser=Number(int, min=2),
                                                    help="Override the preset's population size."),
           seed: int = typer.Option(0, parser=Number(int, min=0), help="Search seed."),
           verify: bool = typer.Option(True, "--verify/--no-verify", help="Measure the winners on each latency device."),
           verify_max: int = typer.Option(10, parser=Number(int, min=1),
                                          help="Candidates to try on the device before giving up (skip with --no-verify)."),
           quick: bool = typer.Option(False, "--quick", help="Smoke-test timing protocol for the closed loop."),
           strict_raw: bool = typer.Option(False, "--strict-raw", help="Hold the raw measured time to the budget "
                                           "(default: the latency at the LUT's nominal speed, from a paired "
                                           "measurement with its reference network)."),
           no_profile: bool = typer.Option(False, "--no-profile", help="Refuse instead of profiling this host when "
                                           "no LUT of a --device was measured here (missing, another host's, or stale)."),
           allow_bicubic: bool = typer.Option(False, "--allow-bicubic", help="Let the bicubic-only output (no "
                                              "network, all fusions none) and target-blind networks (no fusion "
                                              "reads the target) be candidates."),
           allow_guide_blind: bool = typer.Option(False, "--allow-guide-blind", help="Let networks that ignore the "
                                                  "guide (no fusion reads it: single-image SR) be candidates."),
           ) -> None:
    """Find the best architecture under latency/params/MACs budgets; verified on the device."""
    from dcnas_deploy.space import parse_hw
    from dcnas_deploy.costs import parse_count, parse_latency
    from dcnas_deploy.fileio import check_output_path

    # everything checkable without torch, before the supernet is loaded
    check_output_path(out, "--out", suffixes=(".yaml", ".yml"))
    hr_size = parse_hw(hr) if hr else None
    for text in latency:
        parse_latency(text)
    for count in (params, macs):
        if count is not None:
            parse_count(count)
    if supernet is None:
        from dcnas_deploy.pretrained import default_supernet
        from dcnas_deploy.train.latest import newest_supernet_run

        shipped = default_supernet()
        supernet = newest_under_runs(newest_supernet_run, "--supernet", "supernet run",
                                     "train one with `dcnas-deploy train-supernet --preset demo --out runs/supernet` "
                                     "(~1.5 min) or run `dcnas-deploy demo`, then search again",
                                     (shipped.name, shipped) if shipped is not None else None)
    else:
        supernet = shipped_supernet(supernet, "--supernet")
    require_run(supernet, "--supernet")
    from dcnas_deploy.runtimes.devices import load_device

    for name in device:
        load_device(name)

    from dcnas_deploy.runtimes.protocol import QUICK, Protocol
    from dcnas_deploy.search.constraints import DEFAULT_DEVICE, build_constraints
    from dcnas_deploy.search.evolution import SearchSettings
    from dcnas_deploy.search.inputs import load_supernet_inputs
    from dcnas_deploy.lut.host_tables import StaleTable
    from dcnas_deploy.space import SearchSpace

    inputs = load_supernet_inputs(supernet, predictor)
    if predictor is not None and strategy != "evolution+predictor":
        console.print(f"note: --strategy {strategy} does not use a predictor; {predictor} is ignored")
    sp = inputs.space
    deploy = SearchSpace(width=sp.width, scale=sp.scale, hr_size=hr_size or sp.hr_size,
                         target_channels=sp.target_channels,
                         guide_channels=sp.guide_channels)
    # --population/--iterations go through the preset's own checks (topk ≤ population ≤ init_pool)
    s = inputs.preset.with_overrides({"search.population": population, "search.iterations": iterations}).search
    if not (latency or params or macs):
        budgets = dict(s.constraints)
        latency = [v for k, v in budgets.items() if k.startswith("latency")]
        device = [k.split(":", 1)[1] for k in budgets if k.startswith("latency")]
        params, macs = budgets.get("params"), budgets.get("macs")
        console.print(f"no budget given: using the preset's {budgets}")
    paired = device or ([DEFAULT_DEVICE] if len(latency) == 1 else [])
    protocol = QUICK if quick else Protocol()
    settings = SearchSettings.from_section(s)
    stale: Optional[str] = None
    for attempt in (1, 2):
        luts: Dict[str, Path] = {}
        if latency and len(paired) == len(latency):  # otherwise build_constraints says what is wrong
            for name in paired:
                luts[name] = host_lut(name, deploy, protocol, not no_profile, verify,
                                      reprofile=load_device(name).name == stale).file
        constraints = build_constraints(deploy, latency, device, params, macs, luts=luts)
        for c in constraints:
            console.print(f"budget: {c.name} ≤ {c.format(c.budget)}")
        if allow_guide_blind and attempt == 1:
            console.print("candidates include guide-blind networks (--allow-guide-blind)")
        try:
            outcome = _search_with_progress(deploy, constraints, inputs, out, settings, strategy, seed, verify,
                                            verify_max, protocol, _sources(supernet, predictor, strategy),
                                            strict_raw, allow_bicubic, allow_guide_blind)
            break
        except StaleTable as exc:
            # e.g. a table profiled while the machine was busy, checked once it is quiet: measure it again (the
            # search's scores are reused from its evaluated.csv), once
            if attempt == 2 or no_profile:
                raise
            console.print(f"[yellow]note:[/] {exc}", highlight=False)
            stale = exc.device
    if outcome.stale_cache is not None:
        console.print(f"note: the previous {outcome.files['evaluated'].name} was scored with another supernet or "
                      f"validation data; it was moved to {outcome.stale_cache} and nothing in it was reused")
    for entry in outcome.verification.tried:
        for dev, v in entry["devices"].items():
            console.print(f"  closed loop {entry['genome'][:12]}… on {dev}: {closed_loop_text(v)}", highlight=False)
    meta = outcome.arch.meta["search"]
    console.print(f"[b]chose[/] {out}: val RMSE {meta['val_rmse']:.4g}; "
                  + ", ".join(f"{k} {v['predicted']:.4g}" for k, v in meta["constraints"].items()))
    if "guide_blind" in meta:
        console.print("[yellow]note:[/] the chosen network ignores its guide (--allow-guide-blind)", highlight=False)
    console.print("wrote " + ", ".join(str(p) for p in outcome.files.values() if p.exists()))


def _search_with_progress(deploy: SearchSpace, constraints, inputs, out: Path, settings, strategy: str, seed: int,
                          verify: bool, verify_max: int, protocol: Protocol, sources: dict, strict_raw: bool,
                          allow_bicubic: bool, allow_guide_blind: bool = False):
    """search_architecture with a progress bar (best fitness so far, ETA) and notes printed as they come."""
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn

    from dcnas_deploy.search.run import search_architecture
    from dcnas_deploy.terminal import LineProgress

    bar = LineProgress(TextColumn("search"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[best]}"),
                       TextColumn("ETA"), TimeRemainingColumn(), console=console)
    task = bar.add_task("search", total=settings.iterations + 1, best="")

    def on_iteration(it, log):
        bar.update(task, completed=it + 1, best=f"best val RMSE {log.curve[-1]['best']:.4g}, {len(log.fitness)} evaluated")

    with bar:
        return search_architecture(deploy, constraints, inputs.fitness, out, settings, strategy,
                                   inputs.scorer_for(constraints), seed, verify, verify_max, protocol, sources,
                                   on_iteration=on_iteration, on_verify=None, fitness_key=inputs.fitness_key,
                                   strict_raw=strict_raw, allow_bicubic=allow_bicubic,
                                   allow_guide_blind=allow_guide_blind,
                                   on_note=lambda line: console.print(f"[yellow]note:[/] {line}", highlight=False))


def _sources(supernet: Path, predictor: Optional[Path], strategy: str) -> dict:
    """What the search read, for arch.yaml's record."""
    if predictor is None or strategy != "evolution+predictor":
        return {"supernet": str(supernet)}
    return {"supernet": str(supernet), "predictor": str(predictor)}


def host_lut(device: str, space: SearchSpace, protocol: Protocol, allow_profile: bool, check_speed: bool,
             reprofile: bool = False) -> LUT:
    """This host's LUT of DEVICE at this geometry; profiled first (notice + progress) when missing, another host's or
    stale (`check_speed`: its reference timed now beyond the speed guard); refused with the command when not allowed."""
    from dcnas_deploy.lut.host_tables import ensure_host_lut
    from dcnas_deploy.lut.profiler import reference_summary
    from dcnas_deploy.terminal import progress_bars

    measured = []
    bars, advance = progress_bars(console)

    def say(line: str) -> None:
        measured.append(line)
        console.print(f"[yellow]note:[/] {line}", highlight=False)

    with bars:
        lut = ensure_host_lut(device, space, protocol, allow_profile=allow_profile, check_speed=check_speed,
                              reprofile=reprofile, say=say, progress=advance)
    if measured:
        console.print(reference_summary(lut), highlight=False)
    else:
        console.print(f"LUT for {device}: {lut.path}", highlight=False)
    return lut


def closed_loop_text(v: dict) -> str:
    """One device's closed-loop result: decided value vs budget, raw time and host speed factor."""
    mark = "[green]ok[/]" if v["within_budget"] else "[red]over[/]"
    text = f"{v['decided_ms']:.2f} ms {v['decided_on'].split(' ')[0]} (budget {v['budget_ms']:.2f}, LUT {v['lut_ms']:.2f}"
    speed = v.get("host_speed")
    if speed:
        text += f"; raw {speed['raw_ms']:.2f} ms, host speed factor {speed['factor']:.2f}"
    return text + f") {mark}"


def register(app: typer.Typer) -> None:
    """Add `search`."""
    app.command("search")(user_errors(search))
