"""Does `search --latency T` return models that measure within T on the device?

For each local device LUT and budgets at the 25th/50th/75th percentile of the space's LUT latency,
run the search (with the closed loop, and without it to see the LUT alone), then measure the result
end to end in alternating turns with the LUT's reference network. Prints the share of runs whose
latency at the table's nominal speed (normalised) is ≤ budget (target 100 %), the median budget use
normalised/budget (target ≥ 90 %), the same for the raw time, and the host speed factor; then, at the
median budget, the histogram of depthwise kernel sizes the search chose on each device (XNNPACK's 7×7
cliff should show on cpu-tflite). --condition labels the machine state (run bench/load.py for "load").

Fitness: a trained supernet (--supernet RUN) or, by default, a stand-in that rewards size (which
drives every search to the budget boundary: the hardest case for honesty).
Every run (device, percentile, closed loop, budget, normalised, tried, raw, factor) goes to
runs/constraint-honesty-<condition>.csv.
Usage: python bench/constraint_honesty.py [--supernet runs/demo/supernet] [--seeds 3] [--condition quiet] [LUT.yaml ...]
"""
from __future__ import annotations

import argparse
import csv
import os
import statistics
from collections import Counter
from pathlib import Path

import numpy as np

from dcnas_deploy.datadirs import shipped_dir
from dcnas_deploy.lut.table import LUT
from dcnas_deploy.runtimes.modules import measure_arch_paired
from dcnas_deploy.runtimes.protocol import Protocol
from dcnas_deploy.search.constraints import build_constraints
from dcnas_deploy.search.evolution import SearchSettings
from dcnas_deploy.search.run import search_architecture


def kernel_histogram(arch, space) -> Counter:
    """Kernel sizes of the live mobile blocks."""
    return Counter(lo.op.k for lo in space.live_ops(arch) if lo.op.kind == "mbconv")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("luts", nargs="*", type=Path)
    ap.add_argument("--supernet", type=Path)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--iterations", type=int, default=8)
    ap.add_argument("--condition", default="quiet", help="label of the machine state (quiet, load, ...)")
    ap.add_argument("--out", type=Path, default=Path("runs"), help="folder of the per-run CSV")
    args = ap.parse_args()
    paths = args.luts or sorted(shipped_dir("luts").glob("cpu*-c8-256x256-x8.yaml"))
    settings = SearchSettings(population=30, topk=8, crossovers=15, mutations=15, iterations=args.iterations,
                              init_pool=300)
    fitness, key = None, {"fitness_key": "size-stand-in"}
    if args.supernet:
        from dcnas_deploy.search.inputs import load_supernet_inputs

        inputs = load_supernet_inputs(args.supernet)
        fitness, key = inputs.fitness, inputs.fitness_key
    rows, hist = [], {}
    for path in paths:
        lut = LUT.load(path)
        space = lut.space()
        os.environ["DCNAS_LUTS"] = str(path.parent)
        device = lut.device["name"]
        size = space.cost_tables(lambda op: op.params)
        fit = fitness or (lambda g: 1.0 / (1.0 + size.batch(g) / 1e5))
        lat = lut.batch_latency(space.sample_genomes(20000, seed=0), space)
        for q in (25, 50, 75):
            budget = float(np.percentile(lat, q))
            for seed in range(args.seeds):
                for verify in (False, True):
                    cons = build_constraints(space, [f"{budget}ms"], [device])
                    out = search_architecture(space, cons, fit, Path(f"/tmp/honesty/{device}-{q}-{seed}-{verify}.yaml"),
                                              settings, "evolution", seed=seed, verify=verify, fitness_key=key)
                    speed = lut.reference.speed(measure_arch_paired(space, out.arch, lut.reference.arch(),
                                                                    cons[0].device, Protocol()))
                    rows.append((device, q, verify, budget, speed.normalised_ms, len(out.verification.tried),
                                 speed.raw_ms, speed.factor))
                    if q == 50 and verify:
                        hist.setdefault(device, Counter()).update(kernel_histogram(out.arch, space))
    csv_path = args.out / f"constraint-honesty-{args.condition}.csv"
    csv_path.parent.mkdir(parents=True, exist_ok=True)
    with open(csv_path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["device", "percentile", "closed_loop", "budget_ms", "normalised_ms", "tried", "raw_ms", "factor"])
        w.writerows(rows)
    print(f"every run: {csv_path}")
    print(f"condition: {args.condition}; normalised = latency at the LUT's nominal speed (paired with its reference)")
    print(f"{'device':<14} {'pct':>4} {'closed loop':>11} {'runs':>5} {'≤ budget':>9} {'median use':>10} "
          f"{'raw ≤':>6} {'raw use':>8} {'factor':>7} {'tried':>6}")
    for device in dict.fromkeys(r[0] for r in rows):
        for q in (25, 50, 75):
            for verify in (False, True):
                sel = [r for r in rows if r[0] == device and r[1] == q and r[2] == verify]
                ok = sum(r[4] <= r[3] for r in sel) / len(sel)
                use = statistics.median(r[4] / r[3] for r in sel)
                raw_ok = sum(r[6] <= r[3] for r in sel) / len(sel)
                raw_use = statistics.median(r[6] / r[3] for r in sel)
                print(f"{device:<14} {q:>4} {str(verify):>11} {len(sel):>5} {100 * ok:>8.0f}% {100 * use:>9.0f}% "
                      f"{100 * raw_ok:>5.0f}% {100 * raw_use:>7.0f}% {statistics.median(r[7] for r in sel):>7.3f} "
                      f"{statistics.median(r[5] for r in sel):>6.0f}")
    print("kernel sizes chosen at the median budget (live mobile blocks):")
    for device, c in hist.items():
        total = sum(c.values()) or 1
        print(f"  {device:<14} " + "  ".join(f"k{k}: {c.get(k, 0)} ({100 * c.get(k, 0) / total:.0f}%)" for k in (3, 5, 7)))


if __name__ == "__main__":
    main()
