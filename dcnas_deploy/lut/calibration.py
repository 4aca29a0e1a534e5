"""Fit the LUT correction from end-to-end measurements and report honest (cross-validated) errors."""
from __future__ import annotations

from pathlib import Path
from typing import Dict, Optional, Sequence, Tuple

import numpy as np


def fit_affine(x: np.ndarray, y: np.ndarray) -> Tuple[float, float]:
    """Least-squares y ≈ a·x + b with a > 0.

    When the sums explain none of the spread (one network, no spread, or a slope that is not positive,
    as on tiny geometries where timing noise dominates), the slope stays 1 and the offset alone is fitted,
    so a table never carries a non-positive scale.
    """
    x, y = np.asarray(x, float), np.asarray(y, float)
    if len(x) >= 2 and np.ptp(x) > 0:
        a, b = np.polyfit(x, y, 1)
        if a > 0:
            return float(a), float(b)
    return 1.0, float(np.mean(y - x)) if len(x) else 0.0


def prediction_errors(predicted: np.ndarray, measured: np.ndarray) -> Dict[str, float]:
    """MAPE (%), RMSE (ms), share within ±10 %, Kendall τ of predicted vs measured latencies."""
    from scipy.stats import kendalltau

    p, m = np.asarray(predicted, float), np.asarray(measured, float)
    rel = np.abs(p - m) / m
    tau = float(kendalltau(p, m)[0]) if len(p) > 1 else float("nan")
    return {"mape_pct": float(100 * rel.mean()), "rmse_ms": float(np.sqrt(np.mean((p - m) ** 2))),
            "within_10pct": float((rel <= 0.10).mean()), "kendall_tau": tau, "n": float(len(p))}


def cross_validated(x: np.ndarray, y: np.ndarray, folds: int = 5, seed: int = 0) -> np.ndarray:
    """Out-of-fold predictions of the affine fit (what the errors are computed from)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    n = len(x)
    if n < 3:
        a, b = fit_affine(x, y)
        return a * x + b
    folds = min(folds, n)
    order = np.random.default_rng(seed).permutation(n)
    pred = np.empty(n)
    for f in range(folds):
        test = order[f::folds]
        train = np.setdiff1d(order, test)
        a, b = fit_affine(x[train], y[train])
        pred[test] = a * x[test] + b
    return pred


def plot_calibration(raw_sum: np.ndarray, predicted: np.ndarray, measured: np.ndarray, errors: Dict[str, float],
                     title: str, path: Path, label: str = "calibrated (out-of-fold)",
                     drift: Optional[Tuple[Sequence[float], Sequence[float]]] = None) -> Path:
    """Predicted-vs-measured scatter with the y = x line and a ±10 % band; `drift` = (seconds, reference ÷
    nominal) adds a panel with the reference network's speed during profiling."""
    from dcnas_deploy.figures import new_figure, save_png

    fig = new_figure((11, 5) if drift else (5.5, 5))
    axes = fig.subplots(1, 2 if drift else 1, squeeze=False)
    ax = axes[0][0]
    lo = 0.9 * min(measured.min(), predicted.min(), raw_sum.min())
    hi = 1.1 * max(measured.max(), predicted.max(), raw_sum.max())
    xs = np.linspace(lo, hi, 50)
    ax.fill_between(xs, 0.9 * xs, 1.1 * xs, color="0.9", label="±10 %")
    ax.plot(xs, xs, "k-", lw=0.8)
    ax.scatter(measured, raw_sum, s=14, marker="x", color="tab:gray", label="raw Σ ops")
    ax.scatter(measured, predicted, s=16, color="tab:blue", label=label)
    ax.set_xlabel("measured end-to-end latency (ms)" + (", at the nominal speed" if drift else ""))
    ax.set_ylabel("LUT prediction (ms)")
    ax.set_title(f"{title}\nMAPE {errors['mape_pct']:.1f} %, {100 * errors['within_10pct']:.0f} % within ±10 %, "
                 f"Kendall τ {errors['kendall_tau']:.2f}", fontsize=9)
    ax.legend(loc="upper left", fontsize=8)
    if drift:
        t, f = drift
        ax2 = axes[0][1]
        ax2.axhspan(0.9, 1.1, color="0.9")
        ax2.axhline(1.0, color="k", lw=0.8)
        ax2.plot(t, f, "o-", ms=3, color="tab:orange")
        ax2.set_xlabel("profiling time (s)")
        ax2.set_ylabel("reference network ÷ its nominal (median) time")
        ax2.set_title(f"host speed while profiling: {min(f):.3f}–{max(f):.3f}× nominal", fontsize=9)
    fig.tight_layout()
    return save_png(fig, path, dpi=110)


def record_normalised_ms(record: dict, nominal_ms: Optional[float]) -> float:
    """A calibration network's latency at the nominal speed (paired ratio × nominal), raw for old records."""
    paired = record.get("paired")
    if paired and nominal_ms:
        return float(paired["ratio"]) * nominal_ms
    return float(record["measured"]["median_ms"])
