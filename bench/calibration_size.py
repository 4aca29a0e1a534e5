"""How many calibration networks does a LUT need? Refit on the first N, score on held-out networks.

Calibration networks are a prefix-stable seeded sequence, so the first N records of a table profiled
with --calibrate 50 are exactly what --calibrate N would have measured. For each N the affine
correction is refitted on those records (at the nominal speed) and scored on the held-out networks
`bench/lut_accuracy.py` measured (its CSV): MAPE, share within ±10 %, Kendall τ; plus the profiling
time N networks took (from the reference timestamps the LUT keeps).
Usage: python bench/calibration_size.py LUT.yaml [--heldout runs/lut-accuracy/<lut>.quiet.csv] [--sizes 5,10,20,30,50]
"""
from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np

from dcnas_deploy.lut.calibration import fit_affine, prediction_errors
from dcnas_deploy.lut.calibration import record_normalised_ms
from dcnas_deploy.lut.table import LUT
from dcnas_deploy.space import Arch


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("lut", type=Path)
    ap.add_argument("--heldout", type=Path, help="CSV of bench/lut_accuracy.py (default: runs/lut-accuracy/<lut>.quiet.csv)")
    ap.add_argument("--sizes", default="5,10,15,20,30,40,50")
    args = ap.parse_args()
    lut = LUT.load(args.lut)
    space = lut.space()
    heldout = args.heldout or Path("runs/lut-accuracy") / f"{args.lut.stem}.quiet.csv"
    if not heldout.is_file():
        raise SystemExit(f"no held-out CSV {heldout}: run bench/lut_accuracy.py {args.lut} first, or give --heldout")
    with heldout.open() as f:
        rows = list(csv.DictReader(f))
    genomes = np.stack([Arch.from_hex(r["genome"]).array() for r in rows])
    measured = np.array([float(r["normalised_ms"]) for r in rows])
    net = lut.net_tables(space)
    x_held = net.batch(genomes)
    recs = lut.calibration.records
    nominal = lut.reference.nominal_ms
    x_all = net.batch(np.stack([Arch.from_hex(r["genome"]).array() for r in recs]))
    y_all = np.array([record_normalised_ms(r, nominal) for r in recs])
    stamps = {m["stage"]: m["at_s"] for m in lut.reference.measurements}
    ops_done = max((m["at_s"] for m in lut.reference.measurements if m["stage"].startswith("after ops")), default=0.0)
    print(f"{args.lut.name}: {len(recs)} calibration networks, {len(rows)} held-out ({heldout.name}); "
          f"ops took {ops_done:.0f} s")
    print(f"{'N':>4} {'held-out MAPE':>14} {'±10 %':>6} {'τ':>6} {'scale':>7} {'offset ms':>9} {'profiling s':>12}")
    for n in (int(s) for s in args.sizes.split(",")):
        if n > len(recs):
            break
        a, b = fit_affine(x_all[:n], y_all[:n])
        e = prediction_errors(np.maximum(a * x_held + b, 0.0), measured)
        t = stamps.get(f"paired with network {n}", float("nan"))
        print(f"{n:>4} {e['mape_pct']:>13.2f}% {100 * e['within_10pct']:>5.0f}% {e['kendall_tau']:>6.3f} "
              f"{a:>7.3f} {b:>9.3f} {t:>12.0f}")


if __name__ == "__main__":
    main()
