"""The newest training results under a runs folder: what `search` and `export` take when none is named.

Read without torch: a supernet run is told from a `train` run by the checkpoint's leading 'kind' field.
A file that cannot be read (truncated, corrupt) and is newer than the pick is named as broken, never
skipped: skipping it would silently put an older run, or a shipped model, in its place.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator, List, Optional, Tuple

RUNS_ROOT = Path("runs")
"""Where the CLI's examples and the demo write runs, relative to the working directory."""
MAX_DEPTH = 4
"""How deep below the runs folder to look (runs/demo/supernet/checkpoint.pt is depth 3)."""


def _files(root: Path, name: str) -> Iterator[Path]:
    """Files called NAME at most MAX_DEPTH levels below ROOT."""
    for depth in range(1, MAX_DEPTH + 1):
        yield from root.glob("/".join(["*"] * (depth - 1) + [name]))


def _stamped(paths: Iterator[Path]) -> List[Tuple[float, str, Path]]:
    """(mtime, name, path) of the files among PATHS, newest first."""
    return sorted(((p.stat().st_mtime, str(p), p) for p in paths if p.is_file()), reverse=True)


def _newest_readable(root: Path, name: str, wanted: str, option: str) -> Optional[Path]:
    """The newest NAME under ROOT whose checkpoint 'kind' is WANTED ('' = any readable torch file); ConfigError
    when an unreadable one is newer than it (or there is none)."""
    from dcnas_deploy.errors import ConfigError
    from dcnas_deploy.model.checkpoint import peek_checkpoint

    for _, _, p in _stamped(_files(root, name)):
        head = peek_checkpoint(p)
        if head is None:
            raise ConfigError(f"{p} is broken (truncated or corrupt: not a readable PyTorch file) and is the newest "
                              f"{name} under {root}/: give {option} explicitly, or move the broken run away "
                              f"(or retrain it), then rerun")
        if not wanted or head.get("kind") == wanted:
            return p
    return None


def newest_supernet_run(root: Path = RUNS_ROOT) -> Optional[Path]:
    """The run directory of the most recently saved `train-supernet` checkpoint under ROOT, or None."""
    found = _newest_readable(root, "checkpoint.pt", "supernet", "--supernet RUN")
    return found.parent if found is not None else None


def newest_model(root: Path = RUNS_ROOT) -> Optional[Path]:
    """The most recently written model.pt (`dcnas-deploy train`) under ROOT, or None."""
    return _newest_readable(root, "model.pt", "", "--model PATH")
