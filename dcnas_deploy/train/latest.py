"""The newest training results under a runs folder: what `search` and `export` take when none is named.

Read without torch: a supernet run is told from a `train` run by the checkpoint's leading 'kind' field.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator, Optional

RUNS_ROOT = Path("runs")
"""Where the CLI's examples and the demo write runs, relative to the working directory."""
MAX_DEPTH = 4
"""How deep below the runs folder to look (runs/demo/supernet/checkpoint.pt is depth 3)."""


def _files(root: Path, name: str) -> Iterator[Path]:
    """Files called NAME at most MAX_DEPTH levels below ROOT."""
    for depth in range(1, MAX_DEPTH + 1):
        yield from root.glob("/".join(["*"] * (depth - 1) + [name]))


def _newest(paths: Iterator[Path]) -> Optional[Path]:
    """The most recently modified of PATHS (None when there are none)."""
    stamped = [(p.stat().st_mtime, str(p), p) for p in paths if p.is_file()]
    return max(stamped)[2] if stamped else None


def newest_supernet_run(root: Path = RUNS_ROOT) -> Optional[Path]:
    """The run directory of the most recently saved `train-supernet` checkpoint under ROOT, or None."""
    from dcnas_deploy.model.checkpoint import peek_checkpoint

    found = _newest(p for p in _files(root, "checkpoint.pt") if (peek_checkpoint(p) or {}).get("kind") == "supernet")
    return found.parent if found is not None else None


def newest_model(root: Path = RUNS_ROOT) -> Optional[Path]:
    """The most recently written model.pt (`dcnas-deploy train`) under ROOT, or None."""
    return _newest(_files(root, "model.pt"))
