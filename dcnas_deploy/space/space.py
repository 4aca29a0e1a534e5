"""`SearchSpace`: sampling, mutation, crossover, liveness, live ops and vectorised costs."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Callable, Dict, List, NamedTuple, Optional, Tuple, Union

import numpy as np

from dcnas_deploy.errors import ConfigError
from dcnas_deploy.space.arch import Arch
from dcnas_deploy.space.genes import (BLOCKS, FUSIONS, LEVELS, N_BLOCK_CHOICES, N_BLOCK_GENES,
                                      N_FUSION_CHOICES, N_GENES, SLOTS, USES_GUIDE, USES_TARGET, block_gene, block_position,
                                      fusion_gene)
from dcnas_deploy.space.ops import Op

Seed = Union[int, np.random.Generator, None]
HW = Tuple[int, int]

_USES_T = np.array([USES_TARGET[f] for f in FUSIONS])
_USES_G = np.array([USES_GUIDE[f] for f in FUSIONS])
_NONE = FUSIONS.index("none")
_FUSE_KIND = {"sum": "fuse_sum", "concat_pw": "fuse_concat_pw", "attention": "fuse_attention"}

def parse_hw(text: str) -> Tuple[int, int]:
    """'256x256' / '480x640' / '256' → (H, W); ConfigError for anything else."""
    parts = str(text).lower().replace("×", "x").split("x")
    try:
        vals = [int(p) for p in parts]
    except ValueError:
        raise ConfigError(f"size '{text}' is not HxW like 256x256") from None
    if len(vals) == 1:
        vals = vals * 2
    if len(vals) != 2 or min(vals) <= 0:
        raise ConfigError(f"size '{text}' is not HxW like 256x256")
    return vals[0], vals[1]


def _rng(seed: Seed) -> np.random.Generator:
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)

class LiveOp(NamedTuple):
    """An op instance of one architecture and where it sits ('decoder.stage2.block1', ...)."""

    role: str
    op: Op

class Liveness(NamedTuple):
    """Which parts run, per genome (arrays with a leading batch axis, levels last)."""

    guide: np.ndarray  # (N, 4) bool: guide encoder stage l computed
    target: np.ndarray  # (N, 4) bool
    decoder: np.ndarray  # (N, 4) bool: decoder stage l runs
    fusion: np.ndarray  # (N, 4) int: fusion choice per level (index = level)
    add: np.ndarray  # (N, 4) bool: fused features added to an existing decoder state at level l

@dataclass(frozen=True)
class SearchSpace:
    """The DCNAS space for one width C (stage widths C·2^i), scale and default HR geometry."""

    width: int = 8
    scale: int = 8
    hr_size: HW = (256, 256)
    target_channels: int = 1
    guide_channels: int = 3

    def __post_init__(self):
        if self.width < 4:
            raise ConfigError(f"width must be >= 4, got {self.width}")
        if self.scale not in (2, 4, 8, 16):
            raise ConfigError(f"scale must be one of 2, 4, 8, 16, got {self.scale}")
        object.__setattr__(self, "hr_size", tuple(int(v) for v in self.hr_size))
        self.check_hr(self.hr_size)

    # ---- geometry ------------------------------------------------------------------------
    def channels(self, level: int) -> int:
        """Feature width at a level."""
        return self.width * 2 ** level

    def check_hr(self, hr: HW) -> HW:
        """Validate an HR size: divisible by the scale and by 8 (three 2× downsamplings)."""
        h, w = int(hr[0]), int(hr[1])
        m = int(np.lcm(self.scale, 2 ** (LEVELS - 1)))
        if h <= 0 or w <= 0 or h % m or w % m:
            raise ConfigError(f"HR size {h}x{w} must be positive multiples of {m} (scale {self.scale}, "
                              f"{LEVELS - 1} downsamplings)")
        return h, w

    def to_dict(self) -> Dict:
        """Plain dict (for presets, checkpoints, LUT headers)."""
        d = asdict(self)
        d["hr_size"] = list(self.hr_size)
        return d

    @classmethod
    def from_dict(cls, d: Dict) -> "SearchSpace":
        """Inverse of to_dict; unknown keys are an error naming them."""
        unknown = set(d) - set(cls.__dataclass_fields__)
        if unknown:
            raise ConfigError(f"unknown search-space keys {sorted(unknown)}; known: {sorted(cls.__dataclass_fields__)}")
        return cls(**d)

    # ---- sampling and variation ------------------------------------------------------------
    def sample_genomes(self, n: int, seed: Seed = None) -> np.ndarray:
        """n uniformly random genomes as an (n, 52) int64 array."""
        rng = _rng(seed)
        g = np.empty((n, N_GENES), dtype=np.int64)
        g[:, :N_BLOCK_GENES] = rng.integers(0, N_BLOCK_CHOICES, size=(n, N_BLOCK_GENES))
        g[:, N_BLOCK_GENES:] = rng.integers(0, N_FUSION_CHOICES, size=(n, LEVELS))
        return g

    def sample(self, seed: Seed = None) -> Arch:
        """One uniformly random architecture."""
        return Arch(self.sample_genomes(1, seed)[0])

    def sample_sequence(self, n: int, seed: int = 0) -> List[Arch]:
        """The first n of a seeded sequence of random architectures (one stream per index: the list for n is a prefix of the list for n + 1, so interrupted measurements resume)."""
        return [self.sample(np.random.default_rng([seed, 7_2025, i])) for i in range(n)]

    def mutate(self, arch: Arch, p: float = 0.1, seed: Seed = None) -> Arch:
        """Resample each gene with probability p."""
        rng = _rng(seed)
        g = arch.array()
        fresh = self.sample_genomes(1, rng)[0]
        mask = rng.random(N_GENES) < p
        g[mask] = fresh[mask]
        return Arch(g)

    def crossover(self, a: Arch, b: Arch, seed: Seed = None) -> Arch:
        """Child taking each gene from a or b with equal probability."""
        rng = _rng(seed)
        mask = rng.random(N_GENES) < 0.5
        return Arch(np.where(mask, a.array(), b.array()))

    # ---- liveness ------------------------------------------------------------------------
    @staticmethod
    def liveness(genomes: np.ndarray) -> Liveness:
        """Vectorised liveness of (N, 52) genomes (a dead stage is computed by no one)."""
        g = np.atleast_2d(np.asarray(genomes))
        fusion = g[:, [fusion_gene(lv) for lv in range(LEVELS)]]  # (N, 4) by level

        def from_deep(x: np.ndarray) -> np.ndarray:  # OR over this level and all deeper ones
            return np.logical_or.accumulate(x[:, ::-1], axis=1)[:, ::-1]

        decoder = from_deep(fusion != _NONE)
        above = np.concatenate([decoder[:, 1:], np.zeros((len(g), 1), bool)], axis=1)
        return Liveness(guide=from_deep(_USES_G[fusion]), target=from_deep(_USES_T[fusion]), decoder=decoder,
                        fusion=fusion, add=(fusion != _NONE) & above)

    # ---- ops ---------------------------------------------------------------------------------
    def _res(self, level: int, hr: HW) -> HW:
        return hr[0] >> level, hr[1] >> level

    def block_op(self, level: int, choice: int, hr: HW) -> Optional[Op]:
        """The mobile-block op of a slot at a level (None for skip)."""
        if choice == 0:
            return None
        k, e = BLOCKS[choice]
        c = self.channels(level)
        return Op("mbconv", c, c, *self._res(level, hr), k=k, e=e)

    def fusion_op(self, level: int, choice: int, hr: HW) -> Optional[Op]:
        """The fusion op at a level (None for the identity choices target/guide/none)."""
        kind = _FUSE_KIND.get(FUSIONS[choice])
        c = self.channels(level)
        return Op(kind, c, c, *self._res(level, hr)) if kind else None

    def fixed_ops(self, hr: HW) -> Dict[str, Op]:
        """Ops whose presence depends only on liveness: stems, downs, ups, adds, head, lr_up."""
        H, W = hr
        tc, gc, c0 = self.target_channels, self.guide_channels, self.channels(0)
        ops = {
            "lr_up": Op("lr_up", tc, tc, H // self.scale, W // self.scale, s=self.scale),
            "target_encoder.stem": Op("stem", tc, c0, H, W),
            "guide_encoder.stem": Op("stem", gc, c0, H, W),
            "head": Op("head", c0, tc, H, W),
        }
        for lv in range(1, LEVELS):
            down = Op("down", self.channels(lv - 1), self.channels(lv), *self._res(lv - 1, hr))
            ops[f"target_encoder.down{lv}"] = down
            ops[f"guide_encoder.down{lv}"] = down
            ops[f"decoder.up{lv}"] = Op("up", self.channels(lv), self.channels(lv - 1), *self._res(lv, hr))
        for lv in range(LEVELS):
            ops[f"decoder.stage{lv}.add"] = Op("add", self.channels(lv), self.channels(lv), *self._res(lv, hr))
        return ops

    def live_ops(self, arch: Arch, hr_size: Optional[HW] = None) -> List[LiveOp]:
        """Every op that runs in this architecture (dead stages dropped), in execution order."""
        hr = self.check_hr(hr_size or self.hr_size)
        lv = self.liveness(arch.array())
        fixed = self.fixed_ops(hr)
        out = [LiveOp("lr_up", fixed["lr_up"])]
        for branch, live in (("target_encoder", lv.target[0]), ("guide_encoder", lv.guide[0])):
            for level in range(LEVELS):
                if not live[level]:
                    continue
                out.append(LiveOp(f"{branch}.stem" if level == 0 else f"{branch}.down{level}",
                                  fixed[f"{branch}.stem" if level == 0 else f"{branch}.down{level}"]))
                out += self._stage_ops(arch, branch, level, hr)
        for level in (3, 2, 1, 0):
            if not lv.decoder[0, level]:
                continue
            if level < 3 and lv.decoder[0, level + 1]:
                out.append(LiveOp(f"decoder.up{level + 1}", fixed[f"decoder.up{level + 1}"]))
            fop = self.fusion_op(level, int(lv.fusion[0, level]), hr)
            if fop is not None:
                out.append(LiveOp(f"decoder.stage{level}.fusion", fop))
            if lv.add[0, level]:
                out.append(LiveOp(f"decoder.stage{level}.add", fixed[f"decoder.stage{level}.add"]))
            out += self._stage_ops(arch, "decoder", level, hr)
        if lv.decoder[0, 0]:
            out.append(LiveOp("head", fixed["head"]))
        return out

    def _stage_ops(self, arch: Arch, branch: str, level: int, hr: HW) -> List[LiveOp]:

        ops = []
        for slot in range(SLOTS):
            op = self.block_op(level, arch.genes[block_gene(branch, level, slot)], hr)
            if op is not None:
                ops.append(LiveOp(f"{branch}.stage{level}.block{slot}", op))
        return ops

    def unique_ops(self, hr_size: Optional[HW] = None) -> List[Op]:
        """Every distinct op instance any architecture of this space can contain (the LUT's rows)."""
        hr = self.check_hr(hr_size or self.hr_size)
        seen: Dict[str, Op] = {}
        for op in self.fixed_ops(hr).values():
            seen.setdefault(op.key, op)
        for level in range(LEVELS):
            for choice in range(1, N_BLOCK_CHOICES):
                op = self.block_op(level, choice, hr)  # type: ignore[assignment]  # choice ≥ 1: never skip
                seen.setdefault(op.key, op)
            for choice in range(N_FUSION_CHOICES):
                op = self.fusion_op(level, choice, hr)  # type: ignore[assignment]  # None checked below
                if op is not None:
                    seen.setdefault(op.key, op)
        return list(seen.values())

    # ---- costs ---------------------------------------------------------------------------------
    def params(self, arch: Arch) -> int:
        """Exact trainable parameter count of the materialised subnet."""
        return sum(lo.op.params for lo in self.live_ops(arch))

    def macs(self, arch: Arch, hr_size: Optional[HW] = None) -> int:
        """Multiply-accumulates of one forward pass at hr_size."""
        return sum(lo.op.macs for lo in self.live_ops(arch, hr_size))

    def cost_tables(self, op_cost: Callable[[Op], float], hr_size: Optional[HW] = None) -> "CostTables":
        """Tabulate op_cost over every position/choice so that batch costs are pure numpy."""
        hr = self.check_hr(hr_size or self.hr_size)
        blocks = np.zeros((N_BLOCK_GENES, N_BLOCK_CHOICES))
        for i in range(N_BLOCK_GENES):
            _, level, _ = block_position(i)
            for choice in range(1, N_BLOCK_CHOICES):
                blocks[i, choice] = op_cost(self.block_op(level, choice, hr))  # type: ignore[arg-type]  # choice ≥ 1
        fusion = np.zeros((LEVELS, N_FUSION_CHOICES))
        for level in range(LEVELS):
            for choice in range(N_FUSION_CHOICES):
                op = self.fusion_op(level, choice, hr)
                fusion[level, choice] = op_cost(op) if op is not None else 0.0
        fx = {k: op_cost(v) for k, v in self.fixed_ops(hr).items()}
        enc = lambda b: np.array([fx[f"{b}.stem"]] + [fx[f"{b}.down{lv}"] for lv in range(1, LEVELS)])
        return CostTables(
            blocks=blocks, fusion=fusion, lr_up=fx["lr_up"], head=fx["head"],
            guide_entry=enc("guide_encoder"), target_entry=enc("target_encoder"),
            up=np.array([0.0] + [fx[f"decoder.up{lv}"] for lv in range(1, LEVELS)]),
            add=np.array([fx[f"decoder.stage{lv}.add"] for lv in range(LEVELS)]))

@dataclass
class CostTables:
    """Per-position cost tables of one additive cost (params, MACs, a LUT's latency)."""

    blocks: np.ndarray  # (48, 16)
    fusion: np.ndarray  # (4 levels, 6)
    lr_up: float
    head: float
    guide_entry: np.ndarray  # (4,): stem, down1..3 — paid when that guide stage is live
    target_entry: np.ndarray  # (4,)
    up: np.ndarray  # (4,): up[l] paid when decoder stages l and l-1 are live (up[0] = 0)
    add: np.ndarray  # (4,)
    floor: float = -np.inf
    """No architecture costs less than this (a calibrated latency keeps at least its always-run op's time)."""

    def __post_init__(self):
        self._block_offsets = np.arange(N_BLOCK_GENES) * N_BLOCK_CHOICES
        self._fusion_offsets = np.arange(LEVELS) * N_FUSION_CHOICES

    CHUNK = 16384  # genomes per pass: keeps the temporaries in cache (~2x faster than one big pass)

    def batch(self, genomes: np.ndarray) -> np.ndarray:
        """Cost of each of (N, 52) genomes: float64 (N,), no Python loop over ops."""
        g = np.atleast_2d(np.asarray(genomes))
        if len(g) > self.CHUNK:
            return np.concatenate([self._batch(g[i:i + self.CHUNK]) for i in range(0, len(g), self.CHUNK)])
        return self._batch(g)

    def _batch(self, g: np.ndarray) -> np.ndarray:
        lv = SearchSpace.liveness(g)
        flat_index = g[:, :N_BLOCK_GENES] + self._block_offsets
        stage_cost = self.blocks.ravel()[flat_index].reshape(len(g), 3 * LEVELS, SLOTS).sum(axis=2)
        # stage columns in genome order: guide s0..s3, target s0..s3, decoder s3..s0
        stage_live = np.concatenate([lv.guide, lv.target, lv.decoder[:, ::-1]], axis=1)
        total = (stage_cost * stage_live).sum(axis=1)
        total += self.fusion.ravel()[lv.fusion + self._fusion_offsets].sum(axis=1)
        total += lv.guide @ self.guide_entry + lv.target @ self.target_entry
        up_live = lv.decoder[:, 1:] & lv.decoder[:, :-1]
        total += up_live @ self.up[1:] + lv.add @ self.add + lv.decoder[:, 0] * self.head + self.lr_up
        return np.maximum(total, self.floor)

    def __call__(self, arch: Arch) -> float:
        """Cost of one architecture."""
        return float(self.batch(arch.array()[None])[0])
