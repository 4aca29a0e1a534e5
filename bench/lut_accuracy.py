"""LUT accuracy per local runtime: fresh random architectures measured end to end vs `lut.latency`.

Every architecture is timed in alternating turns with the LUT's reference network, and both figures
are scored: raw (the host now) and normalised (at the table's nominal speed: what the LUT predicts).
Prints MAPE, share within ±10 %, Kendall τ (targets, normalised: MAPE ≤ 4 %, ≥ 95 % within ±10 % for
ONNX Runtime/OpenVINO/LiteRT, ≥ 85 % for eager torch), the median measured/predicted ratio, the host
speed factor and the depthwise 7×7/5×5 cost ratio each LUT shows (XNNPACK's cliff). The architectures are
drawn with a seed different from the calibration set's, so this is held-out accuracy. Writes
OUT/<lut>.<condition>.csv (every architecture) and .png (scatter).

Resumable: every measurement is saved to OUT/<lut>.<profiling date>.<condition>.measured.csv as it
lands, and a rerun with the same LUT and --condition measures only the rest. --condition names the
machine state (e.g. quiet, later, load: run `python bench/load.py` on the other core first).
Usage: python bench/lut_accuracy.py [--archs 100] [--condition quiet] [--out runs/lut-accuracy] [LUT.yaml ...]
       (default: luts/*-c8-256x256-x8.yaml)
"""
from __future__ import annotations

import argparse
import csv
import io
import re
import time
from pathlib import Path

from dcnas_deploy.datadirs import shipped_dir
from dcnas_deploy.fileio import atomic_write_text
from dcnas_deploy.lut.calibration import plot_calibration
from dcnas_deploy.lut.check import check_lut
from dcnas_deploy.lut.table import LUT
from dcnas_deploy.terminal import make_console, progress_bars

FIELDS = ("raw_ms", "normalised_ms", "factor")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("luts", nargs="*", type=Path)
    ap.add_argument("--archs", type=int, default=100)
    ap.add_argument("--condition", default="quiet", help="label of the machine state (quiet, later, load, ...)")
    ap.add_argument("--out", type=Path, default=Path("runs/lut-accuracy"))
    args = ap.parse_args()
    paths = args.luts or sorted(shipped_dir("luts").glob("*-c8-256x256-x8.yaml"))
    print(f"{'LUT':<36} {'cond':<6} {'archs':>5} {'k7/k5':>6} | {'raw MAPE':>8} {'±10 %':>5} | "
          f"{'norm MAPE':>9} {'±10 %':>5} {'τ':>5} {'meas/pred':>9} | {'factor':>6} {'time s':>6}")
    for path in paths:
        lut = LUT.load(path)
        if lut.device.get("connection", {}).get("kind", "local") != "local":
            continue
        t0 = time.perf_counter()
        profiled = re.sub(r"[^0-9T]", "", str(lut.provenance.get("date", "")))[:15]  # a re-profiled LUT starts afresh
        partial = args.out / f"{path.stem}.{profiled}.{args.condition}.measured.csv"
        known = _read_measured(partial)

        def save(genome: str, m: dict) -> None:
            known[genome] = m
            atomic_write_text(partial, "genome," + ",".join(FIELDS) + "\n" + "".join(
                f"{g}," + ",".join(str(v[f]) for f in FIELDS) + "\n" for g, v in known.items()))

        bars, advance = progress_bars(make_console())
        with bars:
            r = check_lut(path, args.archs, seed=20261126, progress=advance, known=known, on_measured=save)
        e, raw = r["errors"], r["raw_errors"]
        ratio = lut.kernel_ratios().get("k7/k5", float("nan"))
        print(f"{path.name:<36} {args.condition:<6} {args.archs:>5} {ratio:>6.2f} | {raw['mape_pct']:>8.2f} "
              f"{100 * raw['within_10pct']:>4.0f}% | {e['mape_pct']:>9.2f} {100 * e['within_10pct']:>4.0f}% "
              f"{e['kendall_tau']:>5.2f} {r['median_ratio']:>9.3f} | {r['median_factor']:>6.3f} "
              f"{time.perf_counter() - t0:>6.0f}", flush=True)
        stem = args.out / f"{path.stem}.{args.condition}"
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(["genome", "raw_sum_ms", "predicted_ms", "measured_ms", "normalised_ms", "factor"])
        w.writerows(zip(r["genomes"], r["raw_sum_ms"], r["predicted_ms"], r["measured_ms"], r["normalised_ms"],
                        r["factor"]))
        atomic_write_text(Path(f"{stem}.csv"), buf.getvalue())  # not with_suffix: it would eat the condition
        plot_calibration(r["raw_sum_ms"], r["predicted_ms"], r["normalised_ms"], e,
                         f"{lut.device['name']}: {args.archs} held-out networks ({args.condition}; normalised)",
                         Path(f"{stem}.png"), label="calibrated LUT (held-out)")


def _read_measured(path: Path) -> dict:
    """genome -> {raw_ms, normalised_ms, factor} saved by an earlier, interrupted run (empty if none)."""
    if not path.is_file():
        return {}
    with path.open() as f:
        return {row["genome"]: {k: float(row[k]) for k in FIELDS} for row in csv.DictReader(f)}


if __name__ == "__main__":
    main()
