"""Side-by-side comparison PNGs: guide | LR | output | ground truth | |error| map (matplotlib, no pyplot)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import numpy as np

from dcnas_deploy.data.holes import invalid_mask
from dcnas_deploy.data.protocols import EvalProtocol


def save_comparison(path: os.PathLike | str, guide: np.ndarray, lr: np.ndarray, sr: np.ndarray,
                    hr: Optional[np.ndarray], protocol: EvalProtocol, title: str = "") -> Path:
    """Write one comparison figure; depth panels share one colour range, holes are shown black.

    Without a ground truth (`hr` None) only guide, LR and output are drawn. Multi-band targets are drawn as
    their band mean, a one-band guide as grey.
    """
    import matplotlib

    from dcnas_deploy.figures import new_figure, save_png

    lr, sr = _one_band(lr), _one_band(sr)
    hr = _one_band(hr) if hr is not None else None
    guide = np.asarray(guide)
    if guide.ndim == 2 or guide.shape[2] == 1:
        guide = np.repeat(guide.reshape(guide.shape[0], guide.shape[1], 1), 3, axis=2)

    ref = hr if hr is not None else sr
    holes = invalid_mask(ref, protocol.zero_is_hole)
    valid = ref[~holes]
    lo, hi = (float(valid.min()), float(valid.max())) if valid.size else (0.0, 1.0)
    scale = max(1, sr.shape[0] // max(lr.shape[0], 1))
    lr_big = np.kron(lr, np.ones((scale, scale), dtype=np.float32))[: sr.shape[0], : sr.shape[1]]
    panels = [("guide", guide, "rgb"), ("LR input (nearest)", np.ma.masked_where(invalid_mask(lr_big, protocol.zero_is_hole), lr_big), "depth"),
              ("output", sr, "depth")]
    err_top = 1.0
    if hr is not None:
        err = np.ma.masked_where(holes, np.abs(sr - hr) * protocol.factor)
        err_top = max(float(np.percentile(err.compressed(), 99)), 1e-6) if err.count() else 1.0
        panels += [("ground truth", np.ma.masked_where(holes, hr), "depth"), (f"|error| ({protocol.unit})", err, "error")]
    h, w = sr.shape
    fig = new_figure((3.2 * len(panels), 3.2 * h / max(w, 1) + 0.7))
    depth_cmap = matplotlib.colormaps["inferno" if not protocol.zero_is_hole else "viridis"].with_extremes(bad="black")
    err_cmap = matplotlib.colormaps["magma"].with_extremes(bad="black")
    for i, (name, img, kind) in enumerate(panels):
        ax = fig.add_subplot(1, len(panels), i + 1)
        ax.set_title(name, fontsize=9)
        ax.axis("off")
        if kind == "rgb":
            ax.imshow(np.clip(img, 0, 1))
        elif kind == "depth":
            ax.imshow(img, cmap=depth_cmap, vmin=lo, vmax=hi)
        else:
            im = ax.imshow(img, cmap=err_cmap, vmin=0, vmax=err_top)
            fig.colorbar(im, ax=ax, fraction=0.046, pad=0.02)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return save_png(fig, path)


def _one_band(img: np.ndarray) -> np.ndarray:
    """H×W as is; H×W×C as its band mean (NaN where any band is NaN)."""
    a = np.asarray(img, np.float32)
    return a.mean(axis=2) if a.ndim == 3 else a
