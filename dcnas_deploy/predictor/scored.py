"""`scored_paths.csv`: paths scored on the validation crops with the supernet's weights at some step.

Columns: step (supernet step when scored), source (init | refresh | fit), split (train | test), tau,
cost, score (validation metric, lower is better), genome (52 hex digits, Arch.to_hex).
Rows are appended as they are scored; a resumed run drops rows newer than its checkpoint.
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterable, List, Sequence, Union

import numpy as np

from dcnas_deploy.errors import ConfigError
from dcnas_deploy.fileio import atomic_write_text
from dcnas_deploy.space import Arch

FIELDS = ("step", "source", "split", "tau", "cost", "score", "genome")


@dataclass
class ScoredPaths:
    """Columns of scored_paths.csv as arrays."""

    step: np.ndarray
    source: np.ndarray
    split: np.ndarray
    tau: np.ndarray
    cost: np.ndarray
    score: np.ndarray
    genomes: np.ndarray  # (N, 52)

    def __len__(self) -> int:
        return len(self.step)

    def where(self, mask: np.ndarray) -> "ScoredPaths":
        """Rows where mask is true."""
        return ScoredPaths(self.step[mask], self.source[mask], self.split[mask], self.tau[mask], self.cost[mask],
                           self.score[mask], self.genomes[mask])


def _rows(step: int, source: str, split: Union[str, Sequence[str]], tau, cost, score, genomes) -> Iterable[list]:
    n = len(genomes)
    splits = [split] * n if isinstance(split, str) else list(split)
    taus = np.broadcast_to(np.asarray(tau, dtype=np.float64), (n,))
    for i in range(n):
        yield [step, source, splits[i], repr(float(taus[i])), repr(float(cost[i])), repr(float(score[i])),
               Arch(genomes[i]).to_hex()]


def append_scored(path: Union[str, Path], step: int, source: str, split: Union[str, Sequence[str]], tau, cost,
                  score, genomes: np.ndarray) -> None:
    """Append scored paths (header written when the file is new)."""
    p = Path(path)
    new = not p.exists() or p.stat().st_size == 0
    with open(p, "a", newline="") as f:
        w = csv.writer(f)
        if new:
            w.writerow(FIELDS)
        w.writerows(_rows(step, source, split, tau, cost, score, genomes))


def read_scored(path: Union[str, Path]) -> ScoredPaths:
    """Read scored_paths.csv (ConfigError naming the file and line on malformed rows)."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"no scored paths at {p}")
    cols: Dict[str, List[Any]] = {k: [] for k in FIELDS}
    with open(p, newline="") as f:
        reader = csv.DictReader(f)
        if tuple(reader.fieldnames or ()) != FIELDS:
            raise ConfigError(f"{p}: header {reader.fieldnames} is not {list(FIELDS)}")
        for line, row in enumerate(reader, start=2):
            try:
                for k in FIELDS:
                    cols[k].append(row[k])
            except KeyError:
                raise ConfigError(f"{p}:{line}: incomplete row") from None
    try:
        return ScoredPaths(np.array(cols["step"], dtype=np.int64), np.array(cols["source"], dtype=object),
                           np.array(cols["split"], dtype=object), np.array(cols["tau"], dtype=np.float64),
                           np.array(cols["cost"], dtype=np.float64), np.array(cols["score"], dtype=np.float64),
                           np.array([Arch.from_hex(h).genes for h in cols["genome"]], dtype=np.int64).reshape(-1, 52))
    except (ValueError, ConfigError) as exc:
        raise ConfigError(f"{p}: malformed value: {exc}") from None


def truncate_scored(path: Union[str, Path], max_step: int) -> None:
    """Drop rows scored after `max_step` (used when a run resumes from an earlier checkpoint)."""
    p = Path(path)
    if not p.is_file():
        return
    with open(p, newline="") as f:
        rows = list(csv.reader(f))
    if not rows:
        return
    kept = [rows[0]] + [r for r in rows[1:] if r and int(r[0]) <= max_step]
    buf = io.StringIO()
    csv.writer(buf).writerows(kept)
    atomic_write_text(p, buf.getvalue())
