"""`dcnas-deploy search`: constrained evolutionary search with closed-loop latency verification."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, List, Literal, Optional

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
           allow_emulated: bool = typer.Option(False, "--allow-emulated", help="Hold budgets against a LUT measured "
                                               "under emulation (qemu): its milliseconds say nothing about the "
                                               "device; refused by default."),
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
    if allow_guide_blind:
        console.print("candidates include guide-blind networks (--allow-guide-blind)")

    from dcnas_deploy import api
    from dcnas_deploy.runtimes.protocol import QUICK, Protocol

    req = api.SearchRequest(supernet=supernet, out=out, latency=latency, devices=device, params=params, macs=macs,
                            hr=hr_size, strategy=strategy, predictor=predictor, seed=seed, population=population,
                            iterations=iterations, verify=verify, verify_max=verify_max,
                            protocol=QUICK if quick else Protocol(), strict_raw=strict_raw,
                            allow_bicubic=allow_bicubic, allow_guide_blind=allow_guide_blind,
                            allow_emulated=allow_emulated, allow_profile=not no_profile)
    if predictor is not None and strategy != "evolution+predictor":
        console.print(f"note: --strategy {strategy} does not use a predictor; {predictor} is ignored")
    result = _search_with_progress(req)
    for entry in result.closed_loop:
        for dev, v in entry["devices"].items():
            console.print(f"  closed loop {entry['genome'][:12]}… on {dev}: {closed_loop_text(v)}", highlight=False)
    meta = result.arch.meta["search"]
    console.print(f"[b]chose[/] {out}: val RMSE {result.val_rmse:.4g}; "
                  + ", ".join(f"{k} {v['predicted']:.4g}" for k, v in result.constraints.items()))
    if "guide_blind" in meta:
        console.print("[yellow]note:[/] the chosen network ignores its guide (--allow-guide-blind)", highlight=False)
    console.print("wrote " + ", ".join(str(p) for p in result.files.values() if p.exists()))


def _search_with_progress(req):
    """api.search with a progress bar (best fitness so far, ETA) once the search runs, profiling bars before it."""
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn

    from dcnas_deploy import api
    from dcnas_deploy.terminal import LineProgress

    def note(line: str) -> None:
        console.print(f"[yellow]note:[/] {line}", highlight=False)

    def budget(c) -> None:
        console.print(f"budget: {c.name} ≤ {c.format(c.budget)}")

    def lut_for(name: str, space, reprofile: bool) -> Path:
        return host_lut(name, space, req.protocol, req.allow_profile, req.verify, reprofile=reprofile).file

    bar = LineProgress(TextColumn("search"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[best]}"),
                       TextColumn("ETA"), TimeRemainingColumn(), console=console)
    state: dict = {}

    def on_iteration(it, log, iterations):
        if not state:  # the bar starts with the search, after any profiling bars have gone
            bar.start()
            state["task"] = bar.add_task("search", total=iterations + 1, best="")
        bar.update(state["task"], completed=it + 1,
                   best=f"best val RMSE {log.curve[-1]['best']:.4g}, {len(log.fitness)} evaluated")

    try:
        return api.search(req, on_note=note, on_iteration=on_iteration, on_budget=budget, lut_for=lut_for)
    finally:
        bar.stop()


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
