"""Matplotlib figures that leave the caller's backend alone: a `Figure` with its own Agg canvas, saved atomically.

pyplot and `matplotlib.use("Agg")` would switch the backend of whatever program imports this library (a
notebook, a GUI); a `Figure` drawn by `FigureCanvasAgg` needs neither, and nothing is left open to close.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Optional, Tuple


def new_figure(figsize: Tuple[float, float], dpi: float = 100) -> Any:
    """An empty matplotlib Figure drawn by an Agg canvas (no pyplot, no backend switch)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, dpi=dpi)
    FigureCanvasAgg(fig)
    return fig


def save_png(fig: Any, path: os.PathLike | str, dpi: Optional[float] = None) -> Path:
    """Write the figure as a PNG atomically (at `dpi`, else the figure's own)."""
    from dcnas_deploy.fileio import atomic_write

    return atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=dpi or "figure", format="png"))
