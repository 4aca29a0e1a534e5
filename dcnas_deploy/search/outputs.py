"""Files written next to arch.yaml: everything evaluated (CSV), the search curve (CSV + PNG), a Pareto plot."""
from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np

from dcnas_deploy.figures import new_figure, save_png
from dcnas_deploy.fileio import atomic_write_text
from dcnas_deploy.search.constraints import Constraint, Feasibility
from dcnas_deploy.search.evolution import SearchLog


def _csv(rows: List[Dict], path: Path) -> Path:
    buf = io.StringIO()
    if rows:
        w = csv.DictWriter(buf, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return atomic_write_text(path, buf.getvalue())


def read_evaluated(path: Path) -> Dict[str, float]:
    """hex genome → fitness from a previous run's evaluated.csv (what a rerun need not evaluate again)."""
    if not path.is_file():
        return {}
    with path.open() as f:
        return {r["genome"]: float(r["val_rmse"]) for r in csv.DictReader(f)}


def open_evaluated(path: Path, key_path: Path, key: Dict[str, str]
                   ) -> Tuple[Dict[str, float], Optional[Path]]:
    """(cached fitness, None) when evaluated.csv was scored with the same fitness `key`; otherwise the old file
    is moved aside (returned) and the search starts afresh, so another supernet's scores are never reused."""
    stored = _read_key(key_path)
    if path.is_file() and stored is not None and stored.get("fitness_key") == key["fitness_key"]:
        return read_evaluated(path), None
    moved = None
    if path.is_file():
        tag = (stored or {}).get("fitness_key", "unkeyed")[:12]
        moved = path.with_name(f"{path.name[:-len('.csv')]}.{tag}.csv")
        os.replace(path, moved)
    atomic_write_text(key_path, json.dumps(key, indent=2) + "\n")
    return {}, moved


def _read_key(key_path: Path) -> Optional[Dict[str, str]]:
    try:
        data = json.loads(key_path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def write_evaluated(log: SearchLog, feas: Feasibility, path: Path) -> Path:
    """One row per evaluated architecture: genome, fitness, first iteration, every constrained cost."""
    hexes = log.ranked()
    costs = feas.costs(np.stack([log.genomes[h] for h in hexes])) if hexes else np.zeros((0, 0))
    rows = [{"genome": h, "val_rmse": f"{log.fitness[h]:.6g}", "iteration": log.first_seen[h],
             **{c.name: f"{costs[i, j]:.6g}" for j, c in enumerate(feas.constraints)}}
            for i, h in enumerate(hexes)]
    return _csv(rows, path)


def write_curve(log: SearchLog, csv_path: Path, png_path: Path, title: str) -> None:
    """Best and top-k fitness per iteration."""
    _csv(log.curve, csv_path)
    it = [r["iteration"] for r in log.curve]
    fig = new_figure((6, 4))
    ax = fig.subplots()
    ax.plot(it, [r["best"] for r in log.curve], "o-", label="best")
    ax.plot(it, [r["topk_mean"] for r in log.curve], "s--", label="top-k mean")
    ax.fill_between(it, [r["best"] for r in log.curve], [r["topk_worst"] for r in log.curve], alpha=0.2,
                    label="top-k range")
    ax.set_xlabel("iteration")
    ax.set_ylabel("validation RMSE (inherited weights, normalised)")
    ax.set_title(title, fontsize=9)
    ax.legend()
    fig.tight_layout()
    save_png(fig, png_path, dpi=110)


def write_pareto(log: SearchLog, feas: Feasibility, axis: Constraint, chosen: Optional[str], path: Path,
                 measured: Optional[Dict[str, float]] = None) -> None:
    """Cost on `axis` vs validation RMSE of everything evaluated; the chosen one and the budget marked."""
    hexes = log.ranked()
    j = feas.constraints.index(axis)
    x = feas.costs(np.stack([log.genomes[h] for h in hexes]))[:, j]
    y = np.array([log.fitness[h] for h in hexes])
    scale = {"params": 1e-6, "MACs": 1e-9}.get(axis.unit, 1.0)
    unit = {"params": "M params", "MACs": "GMACs"}.get(axis.unit, "ms (LUT)")
    fig = new_figure((6, 4.5))
    ax = fig.subplots()
    ax.scatter(x * scale, y, s=10, alpha=0.5, label="evaluated")
    order = np.argsort(x)
    front = order[np.minimum.accumulate(y[order]) == y[order]]
    ax.step(x[front] * scale, y[front], where="post", color="tab:orange", label="Pareto front")
    ax.axvline(axis.budget * scale, color="tab:red", ls="--", label=f"budget {axis.format(axis.budget)}")
    if chosen in log.fitness:
        k = hexes.index(chosen)
        ax.scatter([x[k] * scale], [y[k]], s=120, marker="*", color="tab:green", zorder=5, label="chosen")
        key = axis.name.split(":", 1)[1] if axis.device else None
        if measured and key in measured:
            ax.scatter([measured[key]], [y[k]], s=60, marker="D", facecolors="none", edgecolors="k",
                       zorder=5, label="chosen, measured on device")
    ax.set_xlabel(f"{axis.name} ({unit})")
    ax.set_ylabel("validation RMSE (inherited weights, normalised)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    save_png(fig, path, dpi=110)


