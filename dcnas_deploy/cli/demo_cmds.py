"""`dcnas-deploy demo`: the whole pipeline on the embedded default data, with a report."""
from __future__ import annotations

from pathlib import Path

import typer

from dcnas_deploy.cli.common import Number, console, user_errors
from dcnas_deploy.runtimes.protocol import CALIBRATION_NETWORKS


def demo(device: str = typer.Option("cpu", "--device", "-d", help="Device profile to profile, search for and verify on."),
         out: Path = typer.Option(Path("runs/demo"), "--out", "-o", help="Run folder (finished stages are reused)."),
         preset: str = typer.Option("demo", "--preset", help="Preset name or YAML."),
         calibrate: int = typer.Option(CALIBRATION_NETWORKS, parser=Number(int, min=0),
                                       help="Whole networks measured to calibrate a newly profiled LUT."),
         budget_percentile: float = typer.Option(50.0, parser=Number(float, min=1.0, max=100.0),
                                                 help="Latency budget: this percentile of the space's LUT latency "
                                                      "over random paths (50 = median)."),
         force: bool = typer.Option(False, "--force", help="Redo every stage."),
         supernet: str = typer.Option("auto", "--supernet", help="auto: start from the shipped supernet of the "
                                      "preset's space when there is one (search + short fine-tune), else train "
                                      "one | train: always train one | a train-supernet run folder."),
         no_profile: bool = typer.Option(False, "--no-profile", help="Refuse instead of profiling this host when "
                                         "no LUT of the device was measured here (missing, another host's, or stale)."),
         quick: bool = typer.Option(False, "--quick", help="Smoke-test timing protocol (tests); latencies not meaningful."),
         ) -> None:
    """Profile → supernet (shipped, or trained) → search under the space's median latency → verify → retrain → export →
    benchmark → report."""
    import time

    from dcnas_deploy.fileio import check_output_path
    from dcnas_deploy.demo.run import DemoSettings, run_demo

    check_output_path(out, "--out", folder=True)
    t0 = time.perf_counter()
    report = run_demo(DemoSettings(out=out, preset=preset, device=device, calibrate=calibrate, quick=quick,
                                   budget_percentile=budget_percentile, force=force, supernet=supernet,
                                   no_profile=no_profile), log=lambda m: console.print(m, markup=False, highlight=False))
    console.print(f"[b]report[/]: {report} and {report.with_suffix('.html')} ({time.perf_counter() - t0:.0f} s)")


def register(app: typer.Typer) -> None:
    """Add `demo`."""
    app.command("demo")(user_errors(demo))
