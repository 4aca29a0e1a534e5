"""`Arch`: the 52-gene genome and its hand-editable YAML form."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from dcnas_deploy.errors import ConfigError
from dcnas_deploy.fileio import atomic_write_text, load_yaml_file
from dcnas_deploy.space.genes import (BLOCK_NAMES, BRANCHES, FUSIONS, LEVELS, N_BLOCK_CHOICES, N_FUSION_CHOICES,
                                      N_GENES, N_BLOCK_GENES, SLOTS, block_gene, fusion_gene, stage_order)

FORMAT = "dcnas-arch/1"


class Arch:
    """One architecture of the space: an immutable 52-gene genome (hashable, comparable)."""

    __slots__ = ("genes", "meta")

    def __init__(self, genes: Sequence[int] | np.ndarray, meta: Optional[Dict[str, Any]] = None):
        g = tuple(int(x) for x in genes)
        if len(g) != N_GENES:
            raise ConfigError(f"a genome has {N_GENES} genes, got {len(g)}")
        for i, v in enumerate(g):
            hi = N_BLOCK_CHOICES if i < N_BLOCK_GENES else N_FUSION_CHOICES
            if not 0 <= v < hi:
                raise ConfigError(f"gene {i} = {v} is out of range [0, {hi})")
        self.genes: Tuple[int, ...] = g
        self.meta: Dict[str, Any] = dict(meta or {})

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Arch) and self.genes == other.genes

    def __hash__(self) -> int:
        return hash(self.genes)

    def __repr__(self) -> str:
        return f"Arch({self.short()})"

    def short(self) -> str:
        """Compact one-line form, e.g. 'g:k3e2,skip,...|t:...|d:...|f:sum,...'."""
        parts = []
        for b, tag in zip(BRANCHES, "gtd"):
            parts.append(tag + ":" + ",".join(self.block(b, lv, s) for lv in stage_order(b) for s in range(SLOTS)))
        parts.append("f:" + ",".join(self.fusion(lv) for lv in (3, 2, 1, 0)))
        return "|".join(parts)

    @classmethod
    def uniform(cls, block: str = "k3e4", depth: int = 2, fusion: str = "concat_pw") -> "Arch":
        """Hand-designed baseline: `depth` copies of `block` in every stage of every branch, one fusion everywhere."""
        idx = _parse_block(block)
        if idx is None or idx == 0:
            raise ConfigError(f"'{block}' is not a block; expected k{{3,5,7}}e{{2..6}} like 'k3e4'")
        if not 0 <= depth <= SLOTS:
            raise ConfigError(f"depth {depth} is outside 0..{SLOTS}")
        if fusion not in FUSIONS:
            raise ConfigError(f"'{fusion}' is not a fusion op; expected one of {list(FUSIONS)}")
        genes = [0] * N_GENES
        for branch in BRANCHES:
            for lv in range(LEVELS):
                for s in range(depth):
                    genes[block_gene(branch, lv, s)] = idx
        for lv in range(LEVELS):
            genes[fusion_gene(lv)] = FUSIONS.index(fusion)
        return cls(genes, meta={"hand_designed": f"{block} x{depth}, {fusion}"})

    def to_hex(self) -> str:
        """52 hex digits, one per gene (compact key for logs, CSV and LUT calibration records)."""
        return "".join(f"{g:x}" for g in self.genes)

    @classmethod
    def from_hex(cls, text: str) -> "Arch":
        """Inverse of to_hex."""
        try:
            return cls([int(c, 16) for c in text.strip()])
        except ValueError:
            raise ConfigError(f"'{text}' is not a hex genome of {N_GENES} digits") from None

    def array(self) -> np.ndarray:
        """Genome as an int64 vector."""
        return np.asarray(self.genes, dtype=np.int64)

    def block(self, branch: str, level: int, slot: int) -> str:
        """Block name ('skip' or 'kKeE') at one slot."""
        return BLOCK_NAMES[self.genes[block_gene(branch, level, slot)]]

    def fusion(self, level: int) -> str:
        """Fusion op name at a level."""
        return FUSIONS[self.genes[fusion_gene(level)]]

    # ---- YAML form -------------------------------------------------------------------------
    def to_dict(self) -> Dict[str, Any]:
        """Readable nested dict (what to_yaml writes)."""
        d: Dict[str, Any] = {"format": FORMAT}
        for b in ("guide_encoder", "target_encoder"):
            d[b] = {f"stage{lv}": [self.block(b, lv, s) for s in range(SLOTS)] for lv in stage_order(b)}
        d["decoder"] = {f"stage{lv}": {"fusion": self.fusion(lv),
                                       "blocks": [self.block("decoder", lv, s) for s in range(SLOTS)]}
                        for lv in stage_order("decoder")}
        if self.meta:
            d["meta"] = self.meta
        return d

    @classmethod
    def from_dict(cls, d: Any, source: str = "architecture") -> "Arch":
        """Parse the readable form; every mistake is reported with its stage, slot and value."""
        errors: List[str] = []
        if not isinstance(d, dict):
            got = "an empty file" if d is None else f"a {type(d).__name__}"
            raise ConfigError(f"{source}: expected a mapping with keys {list(BRANCHES)}, got {got}; start from "
                              f"`dcnas-deploy arch sample -o arch.yaml` or a search's output")
        known = set(BRANCHES) | {"format", "meta"}
        for k in d:
            if k not in known:
                errors.append(f"unknown key '{k}' (expected {sorted(known)})")
        if "format" in d and d["format"] != FORMAT:
            errors.append(f"format: '{d['format']}' is not '{FORMAT}'")
        genes = [0] * N_GENES
        for branch in BRANCHES:
            stages = d.get(branch)
            if not isinstance(stages, dict):
                errors.append(f"{branch}: missing or not a mapping of stage0..stage3")
                continue
            for k in stages:
                if k not in {f"stage{lv}" for lv in range(LEVELS)}:
                    errors.append(f"{branch}: unknown stage '{k}' (expected stage0..stage3)")
            for lv in range(LEVELS):
                where = f"{branch}.stage{lv}"
                st = stages.get(f"stage{lv}")
                if st is None:
                    errors.append(f"{where}: missing")
                    continue
                if branch == "decoder":
                    if not isinstance(st, dict):
                        errors.append(f"{where}: expected a mapping with 'fusion' and 'blocks'")
                        continue
                    extra = set(st) - {"fusion", "blocks"}
                    if extra:
                        errors.append(f"{where}: unknown key(s) {sorted(extra)} (expected 'fusion', 'blocks')")
                    fu = st.get("fusion")
                    if fu not in FUSIONS:
                        errors.append(f"{where}.fusion: '{fu}' is not a fusion op; expected one of {list(FUSIONS)}")
                    else:
                        genes[fusion_gene(lv)] = FUSIONS.index(fu)
                    blocks, where = st.get("blocks"), where + ".blocks"
                else:
                    blocks = st
                if not isinstance(blocks, list) or len(blocks) != SLOTS:
                    n = len(blocks) if isinstance(blocks, list) else type(blocks).__name__
                    errors.append(f"{where}: expected a list of {SLOTS} blocks (use 'skip' for an empty slot), got {n}")
                    if not isinstance(blocks, list):
                        continue
                for s, tok in enumerate(blocks):
                    idx = _parse_block(tok)
                    if idx is None:
                        errors.append(f"{where}[{s}]: '{tok}' is not a block; expected 'skip' or "
                                      f"k{{3,5,7}}e{{2..6}} like 'k5e4'")
                    elif s < SLOTS:
                        genes[block_gene(branch, lv, s)] = idx
        if errors:
            raise ConfigError(f"{source}: {len(errors)} error(s):\n  - " + "\n  - ".join(errors))
        meta = d.get("meta") or {}
        if not isinstance(meta, dict):
            raise ConfigError(f"{source}: meta must be a mapping")
        return cls(genes, meta)

    def to_yaml(self, path: os.PathLike | str) -> Path:
        """Write the readable YAML form atomically."""
        import yaml

        header = ("# DCNAS architecture. Blocks: 'skip' or kKeE (depthwise kernel K in {3,5,7}, expand E in 2..6).\n"
                  "# Encoders run stage0 (H x W) -> stage3 (H/8); the decoder runs stage3 -> stage0.\n"
                  f"# Fusions: {', '.join(FUSIONS)}.\n")
        text = header + yaml.safe_dump(self.to_dict(), sort_keys=False, default_flow_style=None, width=120)
        return atomic_write_text(path, text)

    @classmethod
    def from_yaml(cls, path: os.PathLike | str) -> "Arch":
        """Read and validate an architecture YAML file."""
        return cls.from_dict(load_yaml_file(path, "architecture file"), source=str(path))


def _parse_block(tok: Any) -> Optional[int]:
    """Block choice index of 'skip' / 'kKeE', or None."""
    if not isinstance(tok, str):
        return None
    tok = tok.strip().lower()
    return BLOCK_NAMES.index(tok) if tok in BLOCK_NAMES else None

