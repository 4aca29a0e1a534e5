"""Gene alphabet of the DCNAS search space: block choices, fusion choices, genome layout."""
from __future__ import annotations

from typing import List, Tuple

KERNELS: Tuple[int, ...] = (3, 5, 7)
EXPANDS: Tuple[int, ...] = (2, 3, 4, 5, 6)
LEVELS = 4
SLOTS = 4
FUSIONS: Tuple[str, ...] = ("sum", "concat_pw", "attention", "target", "guide", "none")

# Block choice index: 0 = skip, then (k, e) kernel-major: 1 + ki * len(EXPANDS) + ei.
BLOCKS: Tuple[Tuple[int, int], ...] = ((0, 0),) + tuple((k, e) for k in KERNELS for e in EXPANDS)
BLOCK_NAMES: Tuple[str, ...] = ("skip",) + tuple(f"k{k}e{e}" for k, e in BLOCKS[1:])
N_BLOCK_CHOICES = len(BLOCKS)  # 16
N_FUSION_CHOICES = len(FUSIONS)  # 6

BRANCHES: Tuple[str, ...] = ("guide_encoder", "target_encoder", "decoder")
# Genome: 48 block genes (branch-major, then stage, then slot) + 4 fusion genes.
# Encoder stages are stored shallow→deep (stage0..stage3); the decoder and the fusion genes
# are stored in execution order, deepest first (stage3..stage0).
N_BLOCK_GENES = len(BRANCHES) * LEVELS * SLOTS  # 48
N_GENES = N_BLOCK_GENES + LEVELS  # 52

USES_TARGET = {"sum": True, "concat_pw": True, "attention": True, "target": True, "guide": False, "none": False}
USES_GUIDE = {"sum": True, "concat_pw": True, "attention": True, "target": False, "guide": True, "none": False}


def stage_order(branch: str) -> List[int]:
    """Levels of a branch in genome order (encoders shallow→deep, decoder deep→shallow)."""
    return [3, 2, 1, 0] if branch == "decoder" else [0, 1, 2, 3]


def block_gene(branch: str, level: int, slot: int) -> int:
    """Genome index of one block slot."""
    b = BRANCHES.index(branch)
    return b * LEVELS * SLOTS + stage_order(branch).index(level) * SLOTS + slot


def fusion_gene(level: int) -> int:
    """Genome index of the fusion gene at a level (deepest first)."""
    return N_BLOCK_GENES + (LEVELS - 1 - level)


def block_position(gene_index: int) -> Tuple[str, int, int]:
    """(branch, level, slot) of a block gene index."""
    b, rest = divmod(gene_index, LEVELS * SLOTS)
    s, slot = divmod(rest, SLOTS)
    branch = BRANCHES[b]
    return branch, stage_order(branch)[s], slot
