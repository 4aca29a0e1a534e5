"""Search space: genome, readable YAML form, liveness, op enumeration, params/MACs, vectorised costs.

Pure numpy: never imports torch, runtimes or the CLI.
"""
from dcnas_deploy.space.arch import Arch
from dcnas_deploy.space.genes import BLOCK_NAMES, FUSIONS, KERNELS, EXPANDS, LEVELS, SLOTS, N_GENES
from dcnas_deploy.space.ops import Op
from dcnas_deploy.space.space import CostTables, LiveOp, Liveness, SearchSpace, parse_hw

__all__ = ["Arch", "Op", "SearchSpace", "CostTables", "LiveOp", "Liveness", "BLOCK_NAMES", "FUSIONS",
           "KERNELS", "EXPANDS", "LEVELS", "SLOTS", "N_GENES", "parse_hw"]
