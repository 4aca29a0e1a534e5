"""Forward time and peak memory of the smallest, a median and the largest architecture (width 8 and 16, 256×256, CPU).

Smallest/median/largest by MACs among 2000 random architectures, plus the largest the space allows
(every slot k7e6, attention fusion everywhere). Each forward runs in a fresh subprocess so peak RSS
(ru_maxrss) isolates it; time is the median of the shared measurement protocol, 1 and 2 threads.
Usage: python bench/model_forward.py
"""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np

CHILD = r"""
import json, resource, sys, torch
from dcnas_deploy import Arch, SearchSpace, SubNet
from dcnas_deploy.runtimes.protocol import Protocol, measure
width, genes, threads = int(sys.argv[1]), [int(c, 16) for c in sys.argv[2]], int(sys.argv[3])
torch.set_num_threads(threads)
space = SearchSpace(width=width, hr_size=(256, 256))
net = SubNet(space, Arch(genes)).eval()
lr, guide = torch.rand(1, 1, 32, 32), torch.rand(1, 3, 256, 256)
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
with torch.inference_mode():
    net(lr, guide)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t = measure(lambda: net(lr, guide), Protocol(warmup_runs=3, warmup_s=0.3, timed_runs=10, timed_s=1.0))
print(json.dumps({"ms": t.median_ms, "peak_mb": (peak - base) / 1024}))
"""


def pick(width: int) -> dict:
    """Smallest, median and largest by MACs of 2000 random archs, plus the space's largest."""
    from dcnas_deploy import Arch, SearchSpace
    from dcnas_deploy.space.genes import BLOCK_NAMES, FUSIONS, N_BLOCK_GENES, N_GENES

    space = SearchSpace(width=width, hr_size=(256, 256))
    g = space.sample_genomes(2000, seed=0)
    macs = space.cost_tables(lambda op: op.macs).batch(g)
    order = np.argsort(macs)
    biggest = [BLOCK_NAMES.index("k7e6")] * N_BLOCK_GENES + [FUSIONS.index("attention")] * (N_GENES - N_BLOCK_GENES)
    picks = {"smallest": Arch(g[order[0]]), "median": Arch(g[order[len(order) // 2]]),
             "largest": Arch(g[order[-1]]), "space max": Arch(biggest)}
    return {k: (a, space.params(a), space.macs(a)) for k, a in picks.items()}


def main() -> None:
    print(f"{'width':>5} {'arch':>10} {'params':>10} {'GMACs':>7} {'1 thr ms':>9} {'2 thr ms':>9} {'peak MB':>8}")
    for width in (8, 16):
        for name, (arch, params, macs) in pick(width).items():
            row = {}
            for threads in (1, 2):
                out = subprocess.run([sys.executable, "-c", CHILD, str(width), arch.to_hex(), str(threads)],
                                     capture_output=True, text=True, check=True)
                row[threads] = json.loads(out.stdout.strip().splitlines()[-1])
            print(f"{width:>5} {name:>10} {params:>10,} {macs / 1e9:>7.2f} {row[1]['ms']:>9.1f} {row[2]['ms']:>9.1f} "
                  f"{row[1]['peak_mb']:>8.0f}")


if __name__ == "__main__":
    main()
