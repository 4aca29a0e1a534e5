"""`dcnas-deploy devices` and `dcnas-deploy benchmark`: device profiles and end-to-end timing."""
from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any, Dict, List, Optional

import typer

from dcnas_deploy.cli.arch_cmds import Scale
from dcnas_deploy.cli.common import Number, console, fail, print_json, shipped_model, user_errors


def devices(
    check: bool = typer.Option(True, "--check/--no-check", help="Probe whether each device is reachable now."),
    as_json: bool = typer.Option(False, "--json", help="Print the list as JSON instead of a table."),
) -> None:
    """List device profiles (devices/*.yaml and $DCNAS_DEVICES) and whether each is reachable now."""
    from rich import box
    from rich.markup import escape
    from rich.table import Table

    from dcnas_deploy.errors import DcnasError
    from dcnas_deploy.runtimes.connections import check_reachable
    from dcnas_deploy.runtimes.devices import DEFAULT_DEVICE, device_dirs, known_devices, load_device
    from dcnas_deploy.terminal import status as spinner

    dirs = device_dirs()
    rows: List[Dict[str, Any]] = []
    bad: List[str] = []
    with spinner(console, "checking devices...") if check and not as_json else contextlib.nullcontext():
        for name in known_devices():
            try:
                p = load_device(name)
            except DcnasError as exc:
                bad.append(name)
                rows.append({"name": name, "ok": None, "why": str(exc), "bad": True})
                continue
            ok, why = check_reachable(p) if check else (None, "not checked")
            rows.append({"name": p.name, "default": p.name == DEFAULT_DEVICE, "runtime": p.runtime,
                         "runtime_device": p.runtime_device, "precision": p.precision, "threads": p.threads,
                         "connection": p.connection_kind, "ok": ok, "why": why, "source": str(p.source)})
    if as_json:
        print_json({"folders": [str(d) for d in dirs], "devices": rows})
    else:
        table = Table(title="Device profiles", box=box.SIMPLE_HEAD, pad_edge=False,
                      caption=f"* default device; profiles from {', '.join(str(d) for d in dirs)}")
        for col in ("name", "runtime:device", "prec", "thr", "conn", "ok"):
            table.add_column(col, no_wrap=True)
        table.add_column("why not / where", overflow="fold")
        for r in rows:
            if r.get("bad"):
                table.add_row(r["name"], "", "", "", "", "[red]bad[/]", f"[red]{escape(r['why'])}[/]")
                continue
            ok_text = {True: "[green]yes[/]", False: "[yellow]no[/]", None: "?"}[r["ok"]]
            table.add_row(r["name"] + (" *" if r["default"] else ""), f"{r['runtime']}:{r['runtime_device']}",
                          r["precision"], str(r["threads"]), r["connection"], ok_text, escape(r["why"]))
        console.print(table)
    if bad:
        raise fail(f"{len(bad)} device profile(s) could not be read: {', '.join(bad)} (see above); fix or remove "
                   f"those files")


def benchmark(
    models: List[Path] = typer.Argument(..., help="Model files (.onnx, .xml, .tflite, .pt2, .pt), checkpoints, "
                                        "ARCH.yaml, or export folders (each file it lists)."),
    device: Optional[List[str]] = typer.Option(None, "--device", "-d", help="Device profile name (see `devices`) "
                                               "or path to a profile YAML; repeat for a matrix (default: cpu)."),
    threads: Optional[int] = typer.Option(None, "--threads", parser=Number(int, min=1),
                                          help="Override the profiles' fixed thread count."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Also write the result (with provenance) as JSON."),
    png: Optional[Path] = typer.Option(None, "--png", help="Bar chart of the matrix (median, p10–p90) as PNG."),
    hr: Optional[str] = typer.Option(None, "--hr", help="HR size HxW for an ARCH.yaml input (default: its meta or 256x256)."),
    width: Optional[int] = typer.Option(None, "--width", parser=Number(int, min=4, max=256),
                                        help="Base width for an ARCH.yaml input."),
    scale: Optional[Scale] = typer.Option(None, "--scale", help="Scale for an ARCH.yaml input."),
    reference: Optional[Path] = typer.Option(None, "--reference", help="A LUT of this device: time MODEL in turns "
                                             "with its reference network and report the host speed factor and the "
                                             "latency at the LUT's nominal speed (one model, one device)."),
) -> None:
    """Time models end to end on devices (warm-up, then runs until the median is known to ±1 %; median, p10, p90).

    One model on one device: its timing. Several models, an export folder or several --device: one table,
    device × format × precision, with fps, file size and the export's accuracy gate; combinations a device's
    runtime cannot run are skipped, saying why.
    """
    from dcnas_deploy.fileio import check_output_path
    from dcnas_deploy.space import parse_hw

    models = [shipped_model(m, "benchmark") for m in models]
    devices = list(device or ["cpu"])
    if json_out is not None:
        check_output_path(json_out, "--json", suffixes=(".json",), inputs=models)
    if png is not None:
        check_output_path(png, "--png", suffixes=(".png",), inputs=models)
    options = {"hr_size": parse_hw(hr) if hr else None, "width": width, "scale": scale}
    if len(models) == 1 and not models[0].is_dir() and len(devices) == 1 and png is None:
        _benchmark_one(models[0], devices[0], threads, json_out, options, reference)
        return
    if reference is not None:
        raise fail("--reference times one model on one device; give one of each, or leave it out")
    _benchmark_matrix(models, devices, threads, json_out, png, options)


def _benchmark_one(model: Path, device: str, threads: Optional[int], json_out: Optional[Path],
                   options: dict, reference: Optional[Path]) -> None:
    """One model on one device: a one-row table (and JSON)."""
    import json

    from rich import box
    from rich.table import Table

    from dcnas_deploy.fileio import atomic_write_text
    from dcnas_deploy.pipeline.benchmark import benchmark as run_benchmark
    from dcnas_deploy.pretrained import model_label, speed_note
    from dcnas_deploy.runtimes.devices import load_device
    from dcnas_deploy.terminal import status

    profile = load_device(device).with_threads(threads)
    with status(console, f"timing {model_label(model)} on {profile.name} ({profile.runtime} {profile.runtime_device}, "
                         f"{profile.precision}, {profile.threads} threads)..."):
        result = run_benchmark(model, profile, options=options, reference_lut=reference)
    t = result.timing
    table = Table(title=f"{model_label(model)} on {profile.name}", box=box.SIMPLE_HEAD,
                  caption=f"{profile.runtime}:{profile.runtime_device}, {profile.precision}, "
                          f"{profile.threads} thread(s), {profile.connection_kind}")
    for col in ("median ms", "p10 ms", "p90 ms", "runs"):
        table.add_column(col, justify="right", no_wrap=True)
    table.add_row(f"{t.median_ms:.4f}", f"{t.p10_ms:.4f}", f"{t.p90_ms:.4f}", str(t.count))
    console.print(table)
    said = speed_note(model, profile.name)
    if said:
        console.print(f"note: {said}", highlight=False)
    emulated = ((result.host or {}).get("cpu_facts") or {}).get("emulation")
    if emulated:
        console.print(f"[yellow]note:[/] measured under emulation ({emulated}): this timing says nothing about "
                      "the device's speed", highlight=False)
    if result.host_speed:
        hs = result.host_speed
        console.print(f"paired with the reference network of {reference}: host speed factor {hs['factor']:.3f} "
                      f"(reference {hs['reference_ms']:.3f} ms now); latency at the LUT's nominal speed "
                      f"{hs['normalised_ms']:.4f} ms (raw {hs['raw_ms']:.4f} ms)", highlight=False)
    if json_out is not None:
        atomic_write_text(json_out, json.dumps(result.to_dict(), indent=2) + "\n")
        console.print(f"wrote {json_out}")


def _benchmark_matrix(models: List[Path], devices: List[str], threads: Optional[int], json_out: Optional[Path],
                      png: Optional[Path], options: dict) -> None:
    """Every model on every device that can run it: one table, JSON and PNG."""
    import json

    from rich import box
    from rich.markup import escape
    from rich.table import Table

    from dcnas_deploy.fileio import atomic_write_text
    from dcnas_deploy.pipeline.matrix import benchmark_matrix, collect_inputs, plot_matrix
    from dcnas_deploy.pretrained import model_label
    from dcnas_deploy.runtimes.devices import load_device
    from dcnas_deploy.terminal import status

    profiles = [load_device(d).with_threads(threads) for d in dict.fromkeys(devices)]
    inputs = collect_inputs(models)
    with status(console, f"timing {len(inputs)} file(s) on {len(profiles)} device(s)..."):
        matrix = benchmark_matrix(inputs, profiles, options=options)
    table = Table(title="benchmark", box=box.SIMPLE_HEAD, pad_edge=False,
                  caption="median and p10–p90 in ms; gate: the export's accuracy check (export_status.json)")
    for col in ("device", "format", "prec", "median", "p10–p90", "fps", "MB", "gate", "file / why not"):
        table.add_column(col, justify="right" if col in ("median", "p10–p90", "fps", "MB") else "left",
                         no_wrap=col != "file / why not", overflow="fold")
    for r in matrix.rows:
        t = r.timing
        why = r.skipped and f"[yellow]skipped[/]: {escape(r.skipped)}" or r.error and f"[red]error[/]: {escape(r.error)}"
        table.add_row(r.device, r.input.format, r.input.precision, f"{t.median_ms:.3f}" if t else "—",
                      f"{t.p10_ms:.3f}–{t.p90_ms:.3f}" if t else "—", f"{r.fps:.1f}" if t else "—",
                      f"{r.input.size_mb:.2f}", r.input.gate or "—", why or escape(model_label(r.input.path)))
    console.print(table)
    if json_out is not None:
        atomic_write_text(json_out, json.dumps(matrix.to_dict(), indent=2) + "\n")
        console.print(f"wrote {json_out}")
    if not matrix.timed:
        raise fail("nothing could be timed (see the table): give files a device's runtime loads, or other devices")
    if png is not None:
        console.print(f"wrote {plot_matrix(matrix, png)}")


def register(app: typer.Typer) -> None:
    """Add `devices` and `benchmark` to the CLI."""
    app.command("devices")(user_errors(devices))
    app.command("benchmark")(user_errors(benchmark))
