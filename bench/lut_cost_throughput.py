"""Vectorised LUT/params/MACs cost: architectures per second (target ≥ 1,000,000/s).

Usage: python bench/lut_cost_throughput.py [LUT.yaml]   (without a LUT: params and MACs tables)
"""
from __future__ import annotations

import statistics
import sys
import time

from dcnas_deploy import SearchSpace


def rate(tables, genomes, repeats: int = 5) -> float:
    """Median archs/s of tables.batch over `repeats` runs."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        tables.batch(genomes)
        times.append(time.perf_counter() - t0)
    return len(genomes) / statistics.median(times)


def main() -> None:
    space = SearchSpace()
    genomes = space.sample_genomes(1_000_000, seed=0)
    tables = {"params": space.cost_tables(lambda op: op.params), "macs": space.cost_tables(lambda op: op.macs)}
    if len(sys.argv) > 1:
        from dcnas_deploy.lut import LUT

        lut = LUT.load(sys.argv[1])
        space = lut.space()
        genomes = space.sample_genomes(1_000_000, seed=0)
        tables = {f"latency ({lut.device['name']})": lut.cost_tables(space)}
    for name, t in tables.items():
        r = rate(t, genomes)
        print(f"{name:>24}: {r / 1e6:.2f} M archs/s on 1,000,000 genomes (median of 5) "
              f"{'OK' if r >= 1e6 else 'BELOW the 1M/s target'}")


if __name__ == "__main__":
    main()
