"""Constrained evolutionary search (paper Alg. 2) and the random-search baseline; every loop bounded."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional

import numpy as np

from dcnas_deploy.search.constraints import Feasibility
from dcnas_deploy.space import Arch, SearchSpace

Fitness = Callable[[np.ndarray], np.ndarray]
"""(N, 52) genomes → (N,) validation error, lower is better."""
Scorer = Callable[[np.ndarray], np.ndarray]
"""(N, 52) genomes → (N,) predictor score, higher is better."""

STRATEGIES = ("evolution+predictor", "evolution", "random")


@dataclass
class SearchSettings:
    """Alg. 2 settings (preset `search:` section)."""

    population: int = 50
    topk: int = 10
    crossovers: int = 25
    mutations: int = 25
    mutation_prob: float = 0.1
    iterations: int = 20
    init_pool: int = 1000
    max_tries: int = 20
    """Attempts per wanted child before giving up on it (bounds the variation loops)."""

    @classmethod
    def from_section(cls, section, **overrides) -> "SearchSettings":
        """Settings from a preset's `search:` section; overrides that are None keep the preset's value."""
        keys = ("population", "topk", "crossovers", "mutations", "mutation_prob", "iterations", "init_pool")
        values = {k: getattr(section, k) for k in keys}
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


@dataclass
class SearchLog:
    """Everything evaluated, and the per-iteration curve."""

    genomes: Dict[str, np.ndarray] = field(default_factory=dict)  # hex -> genome
    fitness: Dict[str, float] = field(default_factory=dict)  # hex -> val error
    first_seen: Dict[str, int] = field(default_factory=dict)  # hex -> iteration
    curve: List[Dict[str, float]] = field(default_factory=list)

    def ranked(self) -> List[str]:
        """Hex genomes from best to worst fitness."""
        return sorted(self.fitness, key=lambda h: (self.fitness[h], h))


class EvaluationCache:
    """Evaluate each genome once (fitness with inherited weights is deterministic)."""

    def __init__(self, fitness: Fitness, log: SearchLog, known: Optional[Dict[str, float]] = None):
        self.fn, self.log, self.known = fitness, log, dict(known or {})

    def __call__(self, genomes: np.ndarray, iteration: int) -> np.ndarray:
        hexes = [Arch(g).to_hex() for g in genomes]
        todo = [i for i, h in enumerate(hexes) if h not in self.log.fitness and h not in self.known]
        if todo:
            vals = self.fn(genomes[todo])
            for i, v in zip(todo, vals):
                self.known[hexes[i]] = float(v)
        for h, g in zip(hexes, genomes):
            if h not in self.log.fitness:
                self.log.fitness[h] = self.known[h]
                self.log.genomes[h] = np.asarray(g)
                self.log.first_seen[h] = iteration
        return np.array([self.log.fitness[h] for h in hexes])


def _children(make: Callable[[np.random.Generator], Arch], want: int, feas: Feasibility, rng: np.random.Generator,
              seen: set, max_tries: int) -> List[np.ndarray]:
    """Up to `want` new feasible children from `make`, within want × max_tries attempts."""
    out: List[np.ndarray] = []
    for _ in range(want * max_tries):
        if len(out) >= want:
            break
        child = make(rng).array()
        key = child.tobytes()
        if key in seen or not feas.feasible(child[None])[0]:
            continue
        seen.add(key)
        out.append(child)
    return out


def initial_population(feas: Feasibility, settings: SearchSettings, rng: np.random.Generator,
                       scorer: Optional[Scorer]) -> np.ndarray:
    """The predictor's best `population` of `init_pool` random feasible paths (or random ones without it)."""
    if scorer is None:
        return feas.sample(settings.population, rng)
    pool = feas.sample(settings.init_pool, rng)
    order = np.argsort(-scorer(pool), kind="stable")
    return pool[order[: settings.population]]


def run_search(space: SearchSpace, feas: Feasibility, fitness: Fitness, settings: SearchSettings,
               strategy: str = "evolution+predictor", scorer: Optional[Scorer] = None, seed: int = 0,
               known: Optional[Dict[str, float]] = None,
               on_iteration: Optional[Callable[[int, SearchLog], None]] = None) -> SearchLog:
    """Alg. 2 (or random search with the same number of evaluations); returns everything evaluated."""
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES}, got {strategy!r}")
    rng = np.random.default_rng([seed, 2])
    log = SearchLog()
    evaluate = EvaluationCache(fitness, log, known)
    per_iteration = settings.crossovers + settings.mutations
    if strategy == "random":
        pop = feas.sample(settings.population + settings.iterations * per_iteration, rng)
        chunks = [pop[: settings.population]] + [pop[settings.population + i * per_iteration:
                                                     settings.population + (i + 1) * per_iteration]
                                                 for i in range(settings.iterations)]
        for it, chunk in enumerate(chunks):
            if len(chunk):
                evaluate(chunk, it)
            _record(log, it, settings.topk)
            if on_iteration:
                on_iteration(it, log)
        return log
    pop = initial_population(feas, settings, rng, scorer if strategy == "evolution+predictor" else None)
    seen = {g.tobytes() for g in pop}
    for it in range(settings.iterations + 1):
        evaluate(pop, it)
        _record(log, it, settings.topk)
        if on_iteration:
            on_iteration(it, log)
        if it == settings.iterations:
            break
        top = [log.genomes[h] for h in log.ranked()[: settings.topk]]

        def cross(r: np.random.Generator) -> Arch:
            i, j = r.choice(len(top), size=2, replace=len(top) < 2)
            return space.crossover(Arch(top[i]), Arch(top[j]), r)

        def mutate(r: np.random.Generator) -> Arch:
            return space.mutate(Arch(top[r.integers(len(top))]), settings.mutation_prob, r)

        kids = (_children(cross, settings.crossovers, feas, rng, seen, settings.max_tries)
                + _children(mutate, settings.mutations, feas, rng, seen, settings.max_tries))
        if not kids:  # the top-k neighbourhood is exhausted: stop rather than loop
            break
        pop = np.stack(kids)
    return log


def _record(log: SearchLog, iteration: int, topk: int) -> None:
    best = [log.fitness[h] for h in log.ranked()[:topk]]
    log.curve.append({"iteration": iteration, "evaluated": len(log.fitness), "best": best[0],
                      "topk_mean": float(np.mean(best)), "topk_worst": best[-1]})
