"""`dcnas-deploy profile` and `dcnas-deploy lut show|check`: measured latency lookup tables."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from dcnas_deploy.cli.arch_cmds import Scale
from dcnas_deploy.cli.common import Number, console, fail, print_json, user_errors
from dcnas_deploy.runtimes.protocol import CALIBRATION_NETWORKS
from dcnas_deploy.terminal import progress_bars

lut_app = typer.Typer(help="Inspect and re-check latency LUTs.", no_args_is_help=True)


def profile(device: str = typer.Option("cpu", "--device", "-d", help="Device profile name or YAML path."),
            width: int = typer.Option(8, parser=Number(int, min=4, max=256), help="Base width C of the search space."),
            hr: str = typer.Option("256x256", help="HR input size HxW the LUT is valid for."),
            scale: Scale = typer.Option(8, help="Upscaling factor."),
            calibrate: int = typer.Option(CALIBRATION_NETWORKS, parser=Number(int, min=0),
                                          help="Whole networks the calibration fits (a rerun measures only the ones missing)."),
            out: Optional[Path] = typer.Option(None, "--out", "-o", help="LUT file (default: <device>-c<C>-<H>x<W>-x<s>.yaml where new LUTs go, see `dcnas-deploy paths`; "
                                              "hosts/<host key>/ there when that name holds another host's table)."),
            force: bool = typer.Option(False, "--force", help="Re-measure everything instead of only what is missing."),
            threads: Optional[int] = typer.Option(None, "--threads", parser=Number(int, min=1),
                                                  help="Override the profile's thread count."),
            quick: bool = typer.Option(False, "--quick", help="Smoke-test protocol (5 runs): NOT for real tables; recorded in the file."),
            bands: str = typer.Option("1,3", "--bands", help="Target and guide band counts T,G: 1,3 for depth, "
                                                           "thermal and saliency (RGB guide); 4,1 or 8,1 for "
                                                           "pan-sharpening (PAN guide)."),
            ) -> None:
    """Measure every op of the space on a device, calibrate on whole networks, write the LUT."""
    import time

    from dcnas_deploy.fileio import check_output_path
    from dcnas_deploy.lut.profiler import calibration_plot_path, profile_device, reference_summary
    from dcnas_deploy.lut.host_tables import profile_out_path
    from dcnas_deploy.runtimes.devices import load_device
    from dcnas_deploy.runtimes.protocol import QUICK, Protocol
    from dcnas_deploy.space import SearchSpace, parse_hw

    prof = load_device(device).with_threads(threads)
    target_bands, guide_bands = _parse_bands(bands)
    space = SearchSpace(width=width, scale=scale, hr_size=parse_hw(hr), target_channels=target_bands,
                        guide_channels=guide_bands)
    out = check_output_path(out or profile_out_path(prof, space), "--out", suffixes=(".yaml", ".yml"))
    console.print(f"profiling [b]{prof.name}[/] ({prof.runtime}:{prof.runtime_device}, {prof.precision}, "
                  f"{prof.threads} threads) → {out}")
    t0 = time.perf_counter()
    bars, advance = progress_bars(console)
    with bars:
        lut = profile_device(prof, space, out, calibrate=calibrate, force=force, protocol=QUICK if quick else Protocol(),
                             progress=advance)
    console.print(f"{len(lut.ops)} ops measured, {prof.name} per-call overhead "
                  f"{1000 * lut.overhead_ms:.1f} µs; this run took {time.perf_counter() - t0:.0f} s")
    console.print(reference_summary(lut), highlight=False)
    _print_calibration(lut)
    if lut.calibration is not None and calibration_plot_path(lut).exists():
        console.print(f"scatter: {calibration_plot_path(lut)}")


def _parse_bands(text: str) -> tuple:
    """'4,1' → (4, 1); ConfigError for anything else."""
    from dcnas_deploy.errors import ConfigError

    parts = [p.strip() for p in str(text).split(",")]
    if len(parts) != 2 or not all(p.isdigit() and 1 <= int(p) <= 64 for p in parts):
        raise ConfigError(f"--bands {text!r}: expected the target and guide band counts T,G, e.g. 1,3 or 4,1")
    return int(parts[0]), int(parts[1])


def _print_calibration(lut) -> None:
    cal = lut.calibration
    if cal is None:
        console.print("[yellow]no calibration[/]: latency = raw Σ of op medians (run with --calibrate N)")
        return
    e = cal.errors
    console.print(f"calibration on {len(cal.records)} networks: measured ≈ {cal.scale:.3f} × Σ(op − overhead) "
                  f"+ {cal.offset_ms:.3f} ms")
    console.print(f"  {e.get('method')}: MAPE {e['mape_pct']:.2f} %, RMSE {e['rmse_ms']:.3f} ms, "
                  f"{100 * e['within_10pct']:.0f} % within ±10 %, Kendall τ {e['kendall_tau']:.3f} "
                  f"(raw Σ MAPE {e.get('raw_sum_mape_pct', float('nan')):.1f} %)")


@lut_app.command("show")
@user_errors
def show(path: str = typer.Argument(..., help="LUT file, or the name of one in the LUT folders (e.g. cpu-c8-256x256-x8)."),
         top: int = typer.Option(10, parser=Number(int, min=1), help="How many of the slowest ops to list."),
         as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON instead of tables.")) -> None:
    """Summary, slowest ops, kernel-size ratios and calibration figures of a LUT."""
    from rich.table import Table

    from dcnas_deploy.lut.table import LUT, lut_file

    lut_path = lut_file(path)
    lut = LUT.load(lut_path)
    p, g = lut.provenance, lut.geometry
    slowest = sorted(lut.ops.items(), key=lambda kv: -kv[1].median_ms)[:top]
    if as_json:
        cal = lut.calibration
        print_json({"path": str(lut_path), "device": lut.device, "geometry": g, "provenance": p, "ops": len(lut.ops),
                    "slowest": [{"op": k, **t.to_dict()} for k, t in slowest], "kernel_ratios": lut.kernel_ratios(),
                    "calibration": None if cal is None else {"networks": len(cal.records), "scale": cal.scale,
                                                             "offset_ms": cal.offset_ms, "errors": cal.errors}})
        return
    host = p.get("host", {})
    console.print(f"[b]{lut_path}[/]: device {lut.device.get('name')} ({p.get('runtime')} {p.get('runtime_version')}), "
                  f"width {g['width']}, HR {g['hr'][0]}x{g['hr'][1]}, x{g['scale']}")
    console.print(f"measured {p.get('date')} on {host.get('cpu')} ({host.get('os')}), {p.get('threads')} threads, "
                  f"{len(lut.ops)} ops in {p.get('profiling_seconds')} s; per-call overhead "
                  f"{1000 * lut.overhead_ms:.1f} µs; protocol {p.get('protocol')}")
    from dcnas_deploy.lut.profiler import reference_summary
    from dcnas_deploy.runtimes.fingerprint import short_key

    fp = lut.fingerprint
    console.print(f"host fingerprint: {short_key(fp)} ({fp.get('cpu_name')}, ISA {' '.join(fp.get('isa') or [])})"
                  if fp else "host fingerprint: none (older table)", highlight=False)
    console.print(reference_summary(lut), highlight=False)
    table = Table(title=f"slowest {top} ops")
    for col in ("op", "median ms", "p10", "p90", "runs"):
        table.add_column(col, justify="left" if col == "op" else "right")
    for key, t in slowest:
        table.add_row(key, f"{t.median_ms:.4f}", f"{t.p10_ms:.4f}", f"{t.p90_ms:.4f}", str(t.count))
    console.print(table)
    ratios = lut.kernel_ratios()
    if ratios:
        console.print("depthwise kernel cost, median over (c, e) of mbconv time ratio: "
                      + ", ".join(f"{k} {v:.2f}×" for k, v in ratios.items()))
    _print_calibration(lut)


@lut_app.command("check")
@user_errors
def check(path: str = typer.Argument(..., help="LUT file, or the name of one in the LUT folders."),
          archs: int = typer.Option(10, parser=Number(int, min=1), help="Random architectures to re-measure now."),
          seed: int = typer.Option(12345, parser=Number(int, min=0),
                                   help="Seed for the architectures (not the calibration ones)."),
          quick: bool = typer.Option(False, "--quick", help="Smoke-test protocol."),
          no_profile: bool = typer.Option(False, "--no-profile", help="Refuse a table of another host instead of "
                                          "checking (after profiling, if needed) this host's table of its device.")
          ) -> None:
    """Re-measure random architectures now (in turns with the LUT's reference network) and report the drift.

    Exit code 1 when the MAPE is over max(3 × the table's stated error, 15 %): it no longer describes the device.
    """
    from dcnas_deploy.errors import ConfigError
    from dcnas_deploy.lut.check import check_lut
    from dcnas_deploy.lut.host_tables import ensure_host_lut, foreign_host
    from dcnas_deploy.lut.plausibility import MIN_ALLOWED_MAPE_PCT
    from dcnas_deploy.lut.table import LUT, lut_file
    from dcnas_deploy.runtimes.devices import profile_from_dict
    from dcnas_deploy.runtimes.protocol import QUICK, Protocol

    lut_path = lut_file(path)
    given = LUT.load(lut_path)
    profile = profile_from_dict(given.device, source=str(lut_path))
    foreign = foreign_host(given, profile)
    if foreign is not None:  # re-measuring another host's table here would only measure the difference of hosts
        if no_profile:
            raise ConfigError(f"{foreign}, so checking it here says nothing about it; check this host's table "
                              f"(drop --no-profile to find or profile it)")
        console.print(f"[yellow]note:[/] {foreign}: checking this host's table of {profile.name} instead", highlight=False)
        bars, advance = progress_bars(console)
        with bars:
            lut_path = ensure_host_lut(profile, given.space(), QUICK if quick else Protocol(),
                                       say=lambda line: console.print(f"[yellow]note:[/] {line}", highlight=False),
                                       progress=advance).file
        console.print(f"checking {lut_path}", highlight=False)
    bars, advance = progress_bars(console)
    with bars:
        result = check_lut(lut_path, archs, seed, QUICK if quick else Protocol(), progress=advance)
    e, r = result["errors"], result["raw_errors"]
    if result["paired"]:
        console.print(f"{archs} architectures re-measured in turns with the reference network; host speed factor "
                      f"{result['median_factor']:.3f} (reference now ÷ while profiled)")
        console.print(f"  normalised (what the LUT predicts): MAPE {e['mape_pct']:.2f} %, "
                      f"{100 * e['within_10pct']:.0f} % within ±10 %, Kendall τ {e['kendall_tau']:.3f}, "
                      f"median measured/predicted {result['median_ratio']:.3f}")
        console.print(f"  raw: MAPE {r['mape_pct']:.2f} %, {100 * r['within_10pct']:.0f} % within ±10 %, "
                      f"median measured/predicted {result['median_raw_ratio']:.3f}")
    else:
        console.print(f"{archs} architectures re-measured (raw: this LUT has no reference network): "
                      f"MAPE {e['mape_pct']:.2f} %, {100 * e['within_10pct']:.0f} % within ±10 %, "
                      f"Kendall τ {e['kendall_tau']:.3f}, median measured/predicted {result['median_ratio']:.3f}")
    allowed = result["allowed_mape_pct"]
    if e["mape_pct"] > allowed:
        raise fail(f"{lut_path} does not describe this device now: MAPE {e['mape_pct']:,.1f} % is over the "
                   f"{allowed:g} % this table allows (max(3 × its stated error, {MIN_ALLOWED_MAPE_PCT:g} %)); "
                   f"re-profile with --force (runtime changed, or the host's speed moved in a way one factor "
                   f"cannot describe?)", 1)
    if e["mape_pct"] > 10:
        console.print("[yellow]drift > 10 %[/]: re-profile with --force (runtime changed, or the host's speed moved "
                      "in a way one factor cannot describe?)")


def register(app: typer.Typer) -> None:
    """Add `profile` and the `lut` group."""
    app.command("profile")(user_errors(profile))
    app.add_typer(lut_app, name="lut")
