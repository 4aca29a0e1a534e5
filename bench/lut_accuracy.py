"""LUT accuracy per local runtime: fresh random architectures measured end to end vs `lut.latency`.

Prints MAPE, share within ±10 %, Kendall τ (targets: MAPE ≤ 5 %, ≥ 95 % within ±10 %), the median
measured/predicted ratio (drift since profiling) and the depthwise 7×7/5×5 cost ratio each LUT shows
(XNNPACK's cliff). The architectures are drawn with a seed different from the calibration set's, so
this is held-out accuracy. Writes OUT/<lut>.csv (every architecture) and OUT/<lut>.png (scatter).
Run it on a quiet machine: any other job on the CPU shows up as drift. Resumable: every measurement
is saved to OUT/<lut>.<profiling date>.measured.csv as it lands, and a rerun with the same LUT measures only the rest.
Usage: python bench/lut_accuracy.py [--archs 100] [--out runs/lut-accuracy] [LUT.yaml ...]
       (default: luts/*-c8-256x256-x8.yaml)
"""
from __future__ import annotations

import argparse
import csv
import io
import re
import time
from pathlib import Path

from dcnas_deploy.cli.lut_cmds import kernel_ratios, progress_bars
from dcnas_deploy.fileio import atomic_write_text
from dcnas_deploy.lut.calibration import plot_calibration
from dcnas_deploy.lut.check import check_lut
from dcnas_deploy.lut.table import LUT, REPO_LUTS


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("luts", nargs="*", type=Path)
    ap.add_argument("--archs", type=int, default=100)
    ap.add_argument("--out", type=Path, default=Path("runs/lut-accuracy"))
    args = ap.parse_args()
    paths = args.luts or sorted(REPO_LUTS.glob("*-c8-256x256-x8.yaml"))
    print(f"{'LUT':<36} {'archs':>5} {'k7/k5':>6} {'MAPE %':>7} {'±10 %':>6} {'τ':>6} {'meas/pred':>9} {'time s':>7}")
    for path in paths:
        lut = LUT.load(path)
        if lut.device.get("connection", {}).get("kind", "local") != "local":
            continue
        t0 = time.perf_counter()
        profiled = re.sub(r"[^0-9T]", "", str(lut.provenance.get("date", "")))[:15]  # a re-profiled LUT starts afresh
        partial = args.out / f"{path.stem}.{profiled}.measured.csv"
        known = _read_measured(partial)

        def save(genome: str, ms: float) -> None:
            known[genome] = ms
            atomic_write_text(partial, "genome,measured_ms\n" + "".join(f"{g},{v}\n" for g, v in known.items()))

        bars, advance = progress_bars()
        with bars:
            r = check_lut(path, args.archs, seed=20261126, progress=advance, known_ms=known, on_measured=save)
        e = r["errors"]
        ratio = kernel_ratios(lut).get("k7/k5", float("nan"))
        print(f"{path.name:<36} {args.archs:>5} {ratio:>6.2f} {e['mape_pct']:>7.2f} {100 * e['within_10pct']:>5.0f}% "
              f"{e['kendall_tau']:>6.3f} {r['median_ratio']:>9.3f} {time.perf_counter() - t0:>7.0f}", flush=True)
        stem = args.out / path.stem
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(["genome", "raw_sum_ms", "predicted_ms", "measured_ms"])
        w.writerows(zip(r["genomes"], r["raw_sum_ms"], r["predicted_ms"], r["measured_ms"]))
        atomic_write_text(stem.with_suffix(".csv"), buf.getvalue())
        plot_calibration(r["raw_sum_ms"], r["predicted_ms"], r["measured_ms"], e,
                         f"{lut.device['name']}: {args.archs} held-out networks", stem.with_suffix(".png"),
                         label="calibrated LUT (held-out)")


def _read_measured(path: Path) -> dict:
    """genome -> measured ms saved by an earlier, interrupted run (empty if none)."""
    if not path.is_file():
        return {}
    with path.open() as f:
        return {row["genome"]: float(row["measured_ms"]) for row in csv.DictReader(f)}


if __name__ == "__main__":
    main()
