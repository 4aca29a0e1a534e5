"""LUT accuracy per local runtime: 100 fresh random architectures measured end to end vs `lut.latency`.

Prints MAPE, share within ±10 %, Kendall τ (targets: MAPE ≤ 5 %, ≥ 95 % within ±10 %), and the
depthwise 7×7/5×5 cost ratio each LUT shows (XNNPACK's cliff). The architectures are drawn with a
seed different from the calibration set's, so this is held-out accuracy.
Usage: python bench/lut_accuracy.py [--archs 100] [LUT.yaml ...]   (default: luts/*-c8-256x256-x8.yaml)
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

from dcnas_deploy.cli.lut_cmds import kernel_ratios
from dcnas_deploy.lut.check import check_lut
from dcnas_deploy.lut.table import LUT, REPO_LUTS


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("luts", nargs="*", type=Path)
    ap.add_argument("--archs", type=int, default=100)
    args = ap.parse_args()
    paths = args.luts or sorted(REPO_LUTS.glob("*-c8-256x256-x8.yaml"))
    print(f"{'LUT':<36} {'k7/k5':>6} {'MAPE %':>7} {'±10 %':>6} {'τ':>6} {'meas/pred':>9} {'time s':>7}")
    for path in paths:
        lut = LUT.load(path)
        if lut.device.get("connection", {}).get("kind", "local") != "local":
            continue
        t0 = time.perf_counter()
        r = check_lut(path, args.archs, seed=20261126)
        e = r["errors"]
        ratio = kernel_ratios(lut).get("k7/k5", float("nan"))
        print(f"{path.name:<36} {ratio:>6.2f} {e['mape_pct']:>7.2f} {100 * e['within_10pct']:>5.0f}% "
              f"{e['kendall_tau']:>6.3f} {r['median_ratio']:>9.3f} {time.perf_counter() - t0:>7.0f}")


if __name__ == "__main__":
    main()
