"""`dcnas-deploy export`: ONNX / OpenVINO / TFLite files at fp32/fp16/int8, each checked against PyTorch."""
from __future__ import annotations

from pathlib import Path
from typing import Literal, Optional

import typer

from dcnas_deploy.cli.common import Number, console, newest_under_runs, shipped_model, user_errors
from dcnas_deploy.errors import ConfigError

DATA_HELP = ("Check/calibration images: synthetic | middlebury:PATH | nyu:PATH | rgbdd:PATH | folder:PATH "
             "(real images when you have them).")


def _targets(text: str) -> str:
    """--target checked at parse time (a typo fails before torch is imported)."""
    from dcnas_deploy.export.formats import parse_targets

    parse_targets(text)
    return text


def _precisions(text: str) -> str:
    """--precision checked at parse time."""
    from dcnas_deploy.export.formats import parse_precisions

    parse_precisions(text)
    return text


def export_cmd(
    model: Optional[Path] = typer.Option(None, "--model", "-m", help="Trained model checkpoint (.pt from `dcnas-deploy "
                                                                   "train`) or a shipped model's name (depth-x8); "
                                                                   "default: the newest model.pt under runs/, else "
                                                                   "depth-x8."),
    target: str = typer.Option("all", "--target", "-t", parser=_targets,
                               help="onnx | openvino | tflite | all (or a comma list)."),
    precision: str = typer.Option("fp32", "--precision", "-p", parser=_precisions,
                                  help="fp32 | fp16 | int8 | all (or a comma list)."),
    nhwc: bool = typer.Option(False, "--nhwc", help="TFLite inputs/outputs in NHWC (others stay NCHW)."),
    hr: Optional[str] = typer.Option(None, "--hr", help="HR size of the exported graph, e.g. 480x640 "
                                                         "(default: the model's search-space size)."),
    out: Path = typer.Option(Path("export"), "--out", "-o", help="Output folder (files, sidecars, export_status.json)."),
    data: str = typer.Option("", "--data", "-d", help=DATA_HELP + " Default: the procedural data of the model's "
                                                                  "task (synthetic for depth)."),
    check_images: int = typer.Option(8, "--check-images", parser=Number(int, min=1),
                                     help="Images the accuracy check runs on."),
    calib_images: int = typer.Option(32, "--calib-images", parser=Number(int, min=1),
                                     help="Calibration crops for int8 (from images other than the check images)."),
    min_psnr_fp32: Optional[float] = typer.Option(None, "--min-psnr-fp32", parser=Number(float),
                                                  help="Gate: PSNR vs PyTorch in dB [80]."),
    min_psnr_fp16: Optional[float] = typer.Option(None, "--min-psnr-fp16", parser=Number(float),
                                                  help="Gate: PSNR vs PyTorch in dB [45]."),
    min_psnr_int8: Optional[float] = typer.Option(None, "--min-psnr-int8", parser=Number(float),
                                                  help="Gate: PSNR vs PyTorch in dB [35]."),
    max_rmse_increase: Optional[float] = typer.Option(None, "--max-rmse-increase", parser=Number(float, min=0),
                                                      help="Gate: task RMSE at most this many % worse than PyTorch [10]."),
    threads: int = typer.Option(2, "--threads", parser=Number(int, min=1),
                                help="Threads for the check and latency in each runtime."),
    latency: bool = typer.Option(True, "--latency/--no-latency", help="Time each file in its local runtime."),
    norm: Literal["", "lr", "none"] = typer.Option("", "--norm", help="In-graph normalisation: lr (default from "
                                                                      "the checkpoint) | none."),
    seed: int = typer.Option(0, "--seed", parser=Number(int, min=0), help="Seed of the calibration crops."),
    onnx_int8: Literal["u8s8-reduced", "u8u8", "s8s8"] = typer.Option(
        "u8s8-reduced", "--onnx-int8", help="ONNX int8 scheme: u8s8-reduced (correct on every CPU, fastest here) | "
                                            "u8u8 | s8s8 (wrong on x86 without VNNI)."),
) -> None:
    """Export MODEL, reload each file in its runtime, check it on real images, print one status table.

    Exit code 0 when every requested check passed, 1 when any failed (the table says which), 2 on bad input.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    from dcnas_deploy.space import parse_hw
    from dcnas_deploy.data.registry import check_spec
    from dcnas_deploy.fileio import check_output_path
    from dcnas_deploy.terminal import LineProgress

    # checked before torch is imported and before any file is written
    from dcnas_deploy.pretrained import DEFAULT_MODEL, is_pretrained_model, model_label, pretrained_model

    if model is None:
        from dcnas_deploy.train.latest import newest_model

        shipped = (DEFAULT_MODEL, pretrained_model(DEFAULT_MODEL)) if is_pretrained_model(DEFAULT_MODEL) else None
        model = newest_under_runs(newest_model, "--model", "model.pt", "train one (`dcnas-deploy demo` makes "
                                  "runs/demo/final/model.pt) or give --model PATH", shipped)
    else:
        model = shipped_model(model, "--model")
    label = model_label(model)
    check_output_path(out, "--out", folder=True, inputs=[model])
    if not model.is_file():
        raise ConfigError(f"--model {model} {'is a folder' if model.is_dir() else 'not found'}: give the model.pt "
                          f"written by `dcnas-deploy train`")
    hr_size = parse_hw(hr) if hr else None
    if data:
        check_spec(data)

    from dcnas_deploy.export.accuracy import Gates
    from dcnas_deploy.export.formats import parse_precisions, parse_targets
    from dcnas_deploy.export.pipeline import STATUS_FILE, ExportSettings, export_checkpoint
    from dcnas_deploy.export.status import render_table, row_notes
    from dcnas_deploy.runtimes.protocol import Protocol

    formats = parse_targets(target)
    precisions = parse_precisions(precision)
    gates = Gates.with_overrides(min_psnr_fp32, min_psnr_fp16, min_psnr_int8, max_rmse_increase)
    settings = ExportSettings(formats=formats, precisions=precisions, out_dir=out,
                              hr_size=hr_size, nhwc=nhwc, data=data, n_check=check_images,
                              n_calib=calib_images, gates=gates, threads=threads,
                              latency=Protocol() if latency else None, seed=seed, stem=Path(label).stem,
                              onnx_int8=onnx_int8)
    # steps: images (+ torch timing) + per row: convert, check (+ time)
    total = (2 if latency else 1) + len(formats) * len(precisions) * (3 if latency else 2)
    with LineProgress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      TimeRemainingColumn(), console=console, transient=True) as progress:
        task = progress.add_task("export", total=total)
        first = [True]

        def step(msg: str) -> None:
            if not first[0]:
                progress.advance(task)
            first[0] = False
            progress.update(task, description=msg)

        report = export_checkpoint(model, settings, norm=norm, progress=step)
    console.print(render_table(report.rows, f"{label} → {', '.join(f.name for f in formats)} "
                                            f"({', '.join(precisions)}), HR {report.settings['hr_size'][0]}×"
                                            f"{report.settings['hr_size'][1]}", report.unit))
    for line in report.kept:
        console.print(f"  • {line}", highlight=False, markup=False)
    for line in row_notes(report.rows):
        console.print(f"  • {line}", highlight=False)
    console.print(f"check data: {report.data}")
    console.print(f"status saved to {Path(out) / STATUS_FILE}")
    if not report.ok:
        bad = [f"{r.format} {r.precision}" for r in report.rows if not r.ok]
        console.print(f"[bold red]{len(bad)} requested export(s) did not pass:[/] {', '.join(bad)}")
        raise typer.Exit(1)
    console.print("[bold green]all requested exports passed their checks[/]")


def register(app: typer.Typer) -> None:
    """Add `export`."""
    app.command("export")(user_errors(export_cmd))
