"""Constraint sampling of Alg. 1: τ by transformation sampling (eq. 10), paths by acceptance-rejection (eq. 12).

σ is a fraction of the space's cost range [lo, hi] (min and max cost of a fixed reference sample of
4096 uniform paths), so one value works for params, MACs and latency. Acceptance-rejection is
vectorised and bounded: genomes are drawn in numpy batches of `draw_batch` and costed with the
vectorised tables; a path is accepted when 0 ≤ τ − C(α) ≤ σ·(hi − lo). When fewer than m are accepted
after `max_draws` batches, the candidates are topped up with the drawn paths closest below τ (so the
window widens just enough), and, if even those are missing, with the path τ was drawn from (which
always satisfies the constraint); each such step is counted as a fallback.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Tuple

import numpy as np

from dcnas_deploy.space import CostTables, SearchSpace

REFERENCE_PATHS = 4096


@dataclass
class Draw:
    """Candidates for one τ: genomes (n ≤ m, 52), their costs, batches drawn, whether the fallback was used."""

    tau: float
    genomes: np.ndarray
    costs: np.ndarray
    batches: int
    fallback: bool


@dataclass
class ConstraintSampler:
    """τ and constrained candidate paths for one cost (params, MACs, latency) of a space."""

    space: SearchSpace
    tables: CostTables
    lo: float
    hi: float
    sigma: float = 0.05
    draw_batch: int = 1024
    max_draws: int = 8
    draws: int = 0
    fallbacks: int = 0
    accepted_rate_sum: float = field(default=0.0, repr=False)

    @classmethod
    def build(cls, space: SearchSpace, tables: CostTables, sigma: float, draw_batch: int = 1024,
              max_draws: int = 8, seed: int = 0) -> "ConstraintSampler":
        """Measure the cost range on a fixed reference sample and return the sampler."""
        ref = tables.batch(space.sample_genomes(REFERENCE_PATHS, np.random.default_rng([seed, 99])))
        return cls(space, tables, float(ref.min()), float(ref.max()), sigma, draw_batch, max_draws)

    @classmethod
    def for_preset(cls, preset) -> "ConstraintSampler":
        """The sampler of a preset's sampling section (same cost range in training, predictor fit and search)."""
        from dcnas_deploy.costs import make_cost

        space, sa = preset.make_space(), preset.sampling
        return cls.build(space, make_cost(sa.constraint, space), sa.sigma, sa.draw_batch, sa.max_draws,
                         preset.training.seed)

    @property
    def window(self) -> float:
        """σ in cost units."""
        return self.sigma * (self.hi - self.lo)

    def normalise(self, tau: np.ndarray | float) -> np.ndarray:
        """τ mapped to [0, 1] by the reference cost range (the predictor's τ input)."""
        return (np.asarray(tau, dtype=np.float64) - self.lo) / max(self.hi - self.lo, 1e-12)

    def draw_tau(self, rng: np.random.Generator) -> Tuple[float, np.ndarray]:
        """τ = C(α) of a uniformly drawn α (eq. 10); returns (τ, α's genome)."""
        g = self.space.sample_genomes(1, rng)
        return float(self.tables.batch(g)[0]), g[0]

    def sample_under(self, tau: float, m: int, rng: np.random.Generator, source: np.ndarray | None = None) -> Draw:
        """Up to m uniform paths with 0 ≤ τ − cost ≤ σ (eq. 12), bounded as the module docstring says."""
        accepted, acc_costs, below, below_costs = [], [], [], []
        n_acc = 0
        batches = 0
        for batches in range(1, self.max_draws + 1):
            g = self.space.sample_genomes(self.draw_batch, rng)
            c = self.tables.batch(g)
            gap = tau - c
            ok = (gap >= 0) & (gap <= self.window)
            accepted.append(g[ok])
            acc_costs.append(c[ok])
            n_acc += int(ok.sum())
            keep = (gap > self.window)
            below.append(g[keep])
            below_costs.append(c[keep])
            if n_acc >= m:
                break
        genomes = np.concatenate(accepted)[:m]
        costs = np.concatenate(acc_costs)[:m]
        self.draws += 1
        self.accepted_rate_sum += n_acc / (batches * self.draw_batch)
        fallback = len(genomes) < m
        if fallback:
            self.fallbacks += 1
            bg, bc = np.concatenate(below), np.concatenate(below_costs)
            order = np.argsort(tau - bc, kind="stable")[: m - len(genomes)]
            genomes = np.concatenate([genomes, bg[order]])
            costs = np.concatenate([costs, bc[order]])
            if len(genomes) == 0 and source is not None:
                genomes = np.asarray(source)[None].astype(np.int64)
                costs = self.tables.batch(genomes)
        return Draw(float(tau), genomes, costs, batches, fallback)

    def stats(self) -> dict:
        """Counters for the log: draws, fallbacks, mean acceptance rate."""
        return {"draws": self.draws, "fallbacks": self.fallbacks,
                "accept_rate": self.accepted_rate_sum / self.draws if self.draws else float("nan")}

    def state_dict(self) -> dict:
        """Counters to checkpoint (the range is recomputed from the seed)."""
        return {"draws": self.draws, "fallbacks": self.fallbacks, "accepted_rate_sum": self.accepted_rate_sum}

    def load_state_dict(self, state: dict) -> None:
        """Restore counters."""
        self.draws, self.fallbacks = int(state["draws"]), int(state["fallbacks"])
        self.accepted_rate_sum = float(state["accepted_rate_sum"])
