"""Search constraints: budgets on latency (per device, from LUTs), params and MACs, all vectorised."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, List, Mapping, Optional, Sequence

import numpy as np

from dcnas_deploy.costs import make_cost, parse_count, parse_latency
from dcnas_deploy.errors import ConfigError
from dcnas_deploy.space import CostTables, SearchSpace
from dcnas_deploy.space.genes import FUSIONS, LEVELS, N_BLOCK_GENES, USES_TARGET

if TYPE_CHECKING:
    from dcnas_deploy.lut.table import LUT
    from dcnas_deploy.runtimes.devices import DeviceProfile

DEFAULT_DEVICE = "cpu"


@dataclass
class Constraint:
    """cost(arch) ≤ budget for one named cost ('latency:cpu', 'params', 'macs')."""

    name: str
    budget: float
    tables: CostTables
    unit: str
    device: Optional[DeviceProfile] = None
    """DeviceProfile of a latency constraint (with the LUT's thread count): where the closed loop measures."""
    lut: Optional[LUT] = None
    """The LUT behind a latency constraint (its reference network and host fingerprint)."""

    def format(self, value: float) -> str:
        """Human form of a cost in this constraint's unit."""
        if self.unit == "ms":
            return f"{value:.2f} ms"
        return f"{value / 1e6:.3f}M" if self.unit == "params" else f"{value / 1e9:.3f}G"


ALLOW_EMULATED_OPTION = "--allow-emulated"
"""The search option that holds latency budgets against tables measured under emulation (see check_not_emulated)."""


def build_constraints(space: SearchSpace, latency: Sequence[str] = (), devices: Sequence[str] = (),
                      params: Optional[str] = None, macs: Optional[str] = None,
                      luts: Optional[Mapping[str, Path]] = None, allow_emulated: bool = False) -> List[Constraint]:
    """Constraints from CLI-style budgets; `--device D --latency T` pairs are matched in order.

    `luts`: device -> LUT file to cost it with (default: the device's LUT found in the LUT folders).
    `allow_emulated`: hold budgets against tables measured under emulation too (refused by default).
    """
    latency, devices = list(latency), list(devices)
    if devices and not latency:
        raise ConfigError("--device needs a --latency budget (one --latency per --device, in the same order)")
    if latency and not devices:
        devices = [DEFAULT_DEVICE] * len(latency) if len(latency) == 1 else []
    if len(latency) != len(devices):
        raise ConfigError(f"{len(latency)} --latency budget(s) for {len(devices)} --device(s): give them in pairs")
    out = [latency_constraint(d, parse_latency(t), space, (luts or {}).get(d), allow_emulated)
           for d, t in zip(devices, latency)]
    if params is not None:
        out.append(Constraint("params", parse_count(params), make_cost("params", space), "params"))
    if macs is not None:
        out.append(Constraint("macs", parse_count(macs), make_cost("macs", space), "MACs"))
    return out


def size_constraints(space: SearchSpace, budgets: Mapping[str, Any]) -> List[Constraint]:
    """The params/MACs budgets of a preset's `search.constraints` (latency ones need a device and are left out)."""
    return build_constraints(space, params=budgets.get("params"), macs=budgets.get("macs"))


def latency_constraint(device: str, budget_ms: float, space: SearchSpace, lut_path: Optional[Path] = None,
                       allow_emulated: bool = False) -> Constraint:
    """Latency on a device profile (name or YAML), costed by its LUT at the space's geometry (`lut_path`, else found);
    a table measured under emulation is refused unless `allow_emulated` (check_not_emulated)."""
    from dcnas_deploy.lut.table import find_lut, safe_name
    from dcnas_deploy.runtimes.devices import load_device

    profile = load_device(device)
    lut = find_lut(str(lut_path) if lut_path is not None else safe_name(profile.name), space)
    check_not_emulated(lut, allow_emulated)
    # measure the way the LUT was measured: the same fixed thread count
    profile = profile.with_threads(int(lut.device.get("threads", profile.threads)))
    return Constraint(f"latency:{profile.name}", budget_ms, lut.cost_tables(space), "ms", profile, lut)


def check_not_emulated(lut: "LUT", allow_emulated: bool = False) -> None:
    """ConfigError when `lut` was measured under emulation (LUT.emulation) and `allow_emulated` is not given: an
    emulator's timings say nothing about the device, so a budget held against them would be a fiction."""
    if lut.emulation and not allow_emulated:
        raise ConfigError(f"{lut.path} was measured under emulation ({lut.emulation}): its latencies time the "
                          f"emulator, not the device, so search will not hold a latency budget against it. Profile "
                          f"the device on real hardware, or pass {ALLOW_EMULATED_OPTION} to search anyway (the "
                          f"budget then means nothing on the device)")


def check_host_not_emulated(profile: "DeviceProfile", allow_emulated: bool = False) -> None:
    """ConfigError when the host that measures `profile` now is emulated (its fingerprint's `emulation`) and
    `allow_emulated` is not given: refused before any table is profiled there, not after minutes of profiling."""
    if allow_emulated:
        return
    from dcnas_deploy.lut.profiler import current_fingerprint

    emulated = current_fingerprint(profile).get("emulation")
    if emulated:
        raise ConfigError(f"device {profile.name} is measured on an emulated host ({emulated}): its latencies would "
                          f"time the emulator, not the device, so search will not profile it or hold a budget against "
                          f"it. Use real hardware, or pass {ALLOW_EMULATED_OPTION} to search anyway")


def diverse_genomes(space: SearchSpace, n: int, rng: np.random.Generator) -> np.ndarray:
    """Random genomes whose size varies widely: each genome gets its own skip probability, so cheap
    corners of the space (which uniform sampling almost never reaches) are sampled too."""
    g = space.sample_genomes(n, rng)
    p_skip = rng.random((n, 1))
    g[:, :N_BLOCK_GENES] = np.where(rng.random((n, N_BLOCK_GENES)) < p_skip, 0, g[:, :N_BLOCK_GENES])
    p_none = 0.5 * rng.random((n, 1))
    none = FUSIONS.index("none")
    g[:, N_BLOCK_GENES:] = np.where(rng.random((n, LEVELS)) < p_none, none, g[:, N_BLOCK_GENES:])
    return g


def bicubic_only(genomes: np.ndarray) -> np.ndarray:
    """Bool (N,): genomes whose fusions are all `none` — no decoder, the network is the bicubic LR-up alone."""
    g = np.atleast_2d(genomes)
    return (g[:, N_BLOCK_GENES:] == FUSIONS.index("none")).all(axis=1)


def target_blind(genomes: np.ndarray) -> np.ndarray:
    """Bool (N,): genomes no fusion of which reads the target's features (all `none` or `guide`): the output is the
    bicubic LR-up plus a function of the guide alone, which cannot know where depth edges are.

    Measured: a supernet search at CPU scale chose such a path (fusions guide/guide, target encoder dead) and,
    retrained for 1500 steps, it scored exactly bicubic on Middlebury ×4 (2.281 vs 2.281)."""
    return np.asarray(~SearchSpace.liveness(genomes).target.any(axis=1))


def guide_blind(genomes: np.ndarray) -> np.ndarray:
    """Bool (N,): genomes no fusion of which reads the guide's features (all `none` or `target`): a single-image
    network whose exported graph ignores its guide input.

    Measured: a 40 ms search on a CPU LUT chose such a network (every guide-encoder stage dead); refused by
    default so that a guided model is what a guided-SR search returns."""
    return np.asarray(~SearchSpace.liveness(genomes).guide.any(axis=1))


def smallest_networks(include_bicubic: bool = False) -> np.ndarray:
    """The cheapest real networks, every block skipped: one target-reading fusion at one level (16 genomes), then
    the guided ones made of the identity fusions alone (`target` at one level, `guide` at another: 12); with
    `include_bicubic` the bicubic-only genome (all fusions `none`) first."""
    none, target, guide = (FUSIONS.index(f) for f in ("none", "target", "guide"))
    out = [np.array([0] * N_BLOCK_GENES + [none] * LEVELS, dtype=np.int64)] if include_bicubic else []
    picks = [{level: f} for level in range(LEVELS) for f, name in enumerate(FUSIONS) if USES_TARGET[name]]
    picks += [{t: target, g: guide} for t in range(LEVELS) for g in range(LEVELS) if t != g]
    for pick in picks:
        g = np.zeros(N_BLOCK_GENES + LEVELS, dtype=np.int64)
        g[N_BLOCK_GENES:] = none
        for level, f in pick.items():
            g[N_BLOCK_GENES + level] = f
        out.append(g)
    return np.stack(out)


class Feasibility:
    """All constraints together: costs, feasibility masks and bounded feasible sampling.

    The bicubic-only genome (all fusions `none`: no network, 0 parameters) and the target-blind ones (no fusion
    reads the target: bicubic plus a guide-only residual) are not candidates unless `allow_bicubic` — a search
    that returns one has found no guided-SR network that fits; the guide-blind ones (no fusion reads the guide)
    are not candidates unless `allow_guide_blind`.
    """

    def __init__(self, space: SearchSpace, constraints: List[Constraint], allow_bicubic: bool = False,
                 allow_guide_blind: bool = False):
        self.space, self.constraints, self.allow_bicubic = space, constraints, allow_bicubic
        self.allow_guide_blind = allow_guide_blind

    def candidates(self, genomes: np.ndarray) -> np.ndarray:
        """Bool (N,): genomes of the kinds this search may return, budgets aside (see the class docstring)."""
        g = np.atleast_2d(genomes)
        if self.allow_bicubic:
            ok = np.ones(len(g), bool)
            blind = guide_blind(g) & ~bicubic_only(g)  # the bicubic output is what allow_bicubic asks for
        else:
            ok, blind = ~target_blind(g), guide_blind(g)
        return ok if self.allow_guide_blind else ok & ~blind

    def costs(self, genomes: np.ndarray) -> np.ndarray:
        """(N, K) cost of each genome under each constraint."""
        g = np.atleast_2d(genomes)
        return np.stack([c.tables.batch(g) for c in self.constraints], axis=1) if self.constraints \
            else np.zeros((len(g), 0))

    def feasible(self, genomes: np.ndarray) -> np.ndarray:
        """Bool (N,) — every budget met (and a real network, unless bicubic-only is allowed)."""
        budgets = np.array([c.budget for c in self.constraints])
        ok = (self.costs(genomes) <= budgets).all(axis=1)
        return ok & self.candidates(genomes)

    def sample(self, n: int, rng: np.random.Generator, batch: int = 4096, max_batches: int = 50) -> np.ndarray:
        """Up to n distinct feasible genomes (half uniform, half size-diverse), bounded; raises if none exist.

        Budgets that only the very smallest networks meet (which random sampling misses) still get those.
        """
        found: Dict[bytes, np.ndarray] = {}
        for _ in range(max_batches):
            g = np.concatenate([self.space.sample_genomes(batch // 2, rng), diverse_genomes(self.space, batch // 2, rng)])
            for row in g[self.feasible(g)]:
                found.setdefault(row.tobytes(), row)
            if len(found) >= n:
                break
        if len(found) < n:
            extremes = smallest_networks(self.allow_bicubic)
            for row in extremes[self.feasible(extremes)]:
                found.setdefault(row.tobytes(), row)
        if not found:
            raise ConfigError(self.unreachable_message(rng))
        return np.stack(list(found.values())[:n])

    def cheapest(self, rng: np.random.Generator, n: int = 100_000) -> Dict[str, float]:
        """The cheapest cost found per constraint over real networks (the smallest ones plus a large sample)."""
        g = np.concatenate([diverse_genomes(self.space, n, rng), smallest_networks(self.allow_bicubic)])
        g = g[self.candidates(g)]
        costs = self.costs(g)
        return {c.name: float(costs[:, i].min()) for i, c in enumerate(self.constraints)}

    def unreachable_message(self, rng: np.random.Generator) -> str:
        """Error text for budgets no architecture meets, naming the cheapest reachable cost of each."""
        low = self.cheapest(rng)
        parts = [f"{c.name} ≤ {c.format(c.budget)} (cheapest reachable {c.format(low[c.name])})"
                 for c in self.constraints]
        return ("no architecture meets all budgets: " + "; ".join(parts)
                + ". Raise the budget(s); the bicubic-only output (no network) is not a candidate"
                + ("" if self.allow_bicubic else " unless --allow-bicubic")
                + ("" if self.allow_guide_blind else ", nor a network that ignores the guide unless --allow-guide-blind"))
