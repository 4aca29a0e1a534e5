"""Ranking quality of a predictor on held-out scored paths: Kendall τ, Spearman ρ, a rank scatter PNG."""
from __future__ import annotations

from pathlib import Path
from typing import Dict, Optional, Union

import numpy as np

from dcnas_deploy.errors import DcnasError


def rank_metrics(predicted: np.ndarray, val_loss: np.ndarray) -> Dict[str, float]:
    """Kendall τ-b and Spearman ρ between predicted goodness and true goodness (−validation loss)."""
    from scipy.stats import kendalltau, spearmanr

    p, t = np.asarray(predicted, dtype=np.float64), -np.asarray(val_loss, dtype=np.float64)
    if len(p) != len(t) or len(p) < 3:
        raise DcnasError(f"need ≥ 3 paths with predictions and scores, got {len(p)} and {len(t)}")
    return {"kendall": float(kendalltau(p, t).statistic), "spearman": float(spearmanr(p, t).statistic),
            "n": int(len(p))}


def ranks(x: np.ndarray) -> np.ndarray:
    """0-based ranks, best (highest) first."""
    order = np.argsort(-np.asarray(x), kind="stable")
    r = np.empty(len(order), dtype=np.int64)
    r[order] = np.arange(len(order))
    return r


def rank_scatter(path: Union[str, Path], predicted: Dict[str, np.ndarray], val_loss: np.ndarray,
                 title: Optional[str] = None) -> Path:
    """PNG of predicted rank vs true rank per predictor (like the paper's Fig. 17), written atomically."""
    from dcnas_deploy.figures import new_figure, save_png

    true_rank = ranks(-np.asarray(val_loss))
    n = len(predicted)
    fig = new_figure((3.6 * n, 3.6))
    axes = fig.subplots(1, n, squeeze=False)
    for ax, (name, pred) in zip(axes[0], predicted.items()):
        m = rank_metrics(pred, val_loss)
        ax.scatter(true_rank, ranks(pred), s=6, alpha=0.6)
        ax.plot([0, len(pred)], [0, len(pred)], color="grey", lw=0.8, ls="--")
        ax.set_title(f"{name}: Kendall τ {m['kendall']:.3f}")
        ax.set_xlabel("true rank")
        ax.set_ylabel("predicted rank")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return save_png(fig, path, dpi=120)
