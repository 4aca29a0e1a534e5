"""Find depth/guide file pairs on disk: by a shared file stem, or by 'depth'/'color' tokens in names."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

from dcnas_deploy.data.io import DEPTH_SUFFIXES, GUIDE_SUFFIXES
from dcnas_deploy.errors import DcnasError

DEPTH_TOKENS = ("depth", "disp")
GUIDE_TOKENS = ("color", "colour", "rgb", "image", "img")
SPELLINGS = {"ouput": "output"}
"""Misspellings in published file names, matched as the word they stand for (Lu: RGBD_01_ouput_color.png)."""


def files_with(folder: Path, suffixes: Sequence[str], recursive: bool = False) -> List[Path]:
    """Files directly in (or under) `folder` whose suffix is one of `suffixes`, sorted."""
    it = folder.rglob("*") if recursive else folder.glob("*")
    return sorted(p for p in it if p.is_file() and p.suffix.lower() in suffixes and not p.name.startswith("."))


def subdir(folder: Path, names: Iterable[str]) -> Optional[Path]:
    """The first child directory of `folder` whose name matches one of `names` (case-insensitive)."""
    wanted = [n.lower() for n in names]
    children = {c.name.lower(): c for c in folder.iterdir() if c.is_dir()} if folder.is_dir() else {}
    for n in wanted:
        if n in children:
            return children[n]
    return None


def _unmatched_error(kind: str, missing: List[Tuple[Path, str]], where: Path) -> DcnasError:
    shown = "; ".join(f"{p.name}: expected {exp}" for p, exp in missing[:3])
    more = f" (and {len(missing) - 3} more)" if len(missing) > 3 else ""
    return DcnasError(f"{len(missing)} {kind} in {where} have no partner — {shown}{more}")


def pair_by_stem(depth_files: List[Path], guide_files: List[Path], where: Path,
                 guide_dir: Path) -> List[Tuple[str, Path, Path]]:
    """(stem, depth, guide) for each depth file; every depth file must have a guide with its stem."""
    guides: Dict[str, Path] = {}
    for g in guide_files:
        guides.setdefault(g.stem, g)
    pairs: List[Tuple[str, Path, Path]] = []
    missing: List[Tuple[Path, str]] = []
    for d in depth_files:
        guide = guides.get(d.stem)
        if guide is None:
            missing.append((d, f"{guide_dir / d.stem}{{{','.join(GUIDE_SUFFIXES)}}}"))
        else:
            pairs.append((d.stem, d, guide))
    if missing:
        raise _unmatched_error("depth files", missing, where)
    return pairs


def _key(stem: str, tokens: Sequence[str]) -> Optional[str]:
    """stem with its last depth/guide token removed (lower-case), or None when it has none."""
    low = stem.lower()
    best = None
    for t in tokens:
        for m in re.finditer(re.escape(t), low):
            if best is None or m.start() > best.start():
                best = m
    if best is None:
        return None
    key = low[: best.start()] + low[best.end():]
    for wrong, right in SPELLINGS.items():
        key = key.replace(wrong, right)
    return key


def pair_by_token(root: Path) -> List[Tuple[str, Path, Path]]:
    """(name, depth, guide) for files under `root` named like NAME_depth.png + NAME_color.png.

    Partners are matched by the name with the token removed, anywhere under `root` (so both
    ``Depth/X_output_depth.png`` + ``RGB/X_output_color.png`` and a flat folder work).
    """
    depth_by_key: Dict[str, Path] = {}
    guide_by_key: Dict[str, Path] = {}
    for p in files_with(root, tuple(set(DEPTH_SUFFIXES) | set(GUIDE_SUFFIXES)), recursive=True):
        dk = _key(p.stem, DEPTH_TOKENS)
        if dk is not None and p.suffix.lower() in DEPTH_SUFFIXES:
            depth_by_key.setdefault(dk, p)
            continue
        gk = _key(p.stem, GUIDE_TOKENS)
        if gk is not None:
            guide_by_key.setdefault(gk, p)
    pairs, missing = [], []
    for k, d in sorted(depth_by_key.items()):
        g = guide_by_key.get(k)
        if g is None:
            token = next(t for t in DEPTH_TOKENS if t in d.stem.lower())
            i = d.stem.lower().rfind(token)
            missing.append((d, f"a colour image named like {d.stem[:i]}color{d.stem[i + len(token):]}.png/.jpg "
                               f"under {root}"))
        else:
            pairs.append((_display_name(d.stem), d, g))
    if missing:
        raise _unmatched_error("depth files", missing, root)
    return pairs


def _display_name(stem: str) -> str:
    """'Middlebury_01_output_depth' -> 'Middlebury_01_output' (the depth token and separators dropped)."""
    low = stem.lower()
    for t in DEPTH_TOKENS:
        i = low.rfind(t)
        if i >= 0:
            name = (stem[:i] + stem[i + len(t):]).strip("_- .")
            return name or stem
    return stem
