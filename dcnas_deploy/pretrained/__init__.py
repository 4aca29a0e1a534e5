"""Models and supernets shipped with the package, usable by name (`--model depth-x8`, `search` without a run).

Each entry is a folder beside this file holding `card.yaml` (what it is, how it was trained, what it
measured) and its weights: `model.pt` for a model (a `dcnas-deploy train` checkpoint), or a slimmed
supernet run (`checkpoint.pt` without optimiser state, `preset.yaml`, `predictor.pt`) for a supernet.
Entries are written by `train.ship_pretrained` (run by bench/train_pretrained.py) from finished runs; nothing
here is hand-made.
Torch-free: the CLI resolves names before it imports a framework.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Dict, List, Optional

from dcnas_deploy.errors import ConfigError

PRETRAINED_DIR = Path(__file__).resolve().parent
KINDS = ("model", "supernet")
CARD = "card.yaml"


def _cards() -> Dict[str, Dict[str, Any]]:
    """name -> card of every shipped entry (a folder with a card.yaml)."""
    import yaml

    out: Dict[str, Dict[str, Any]] = {}
    for card in sorted(PRETRAINED_DIR.glob(f"*/{CARD}")):
        data = yaml.safe_load(card.read_text()) or {}
        if isinstance(data, dict) and data.get("kind") in KINDS:
            out[card.parent.name] = data
    return out


def available_pretrained(kind: Optional[str] = None) -> Dict[str, Dict[str, Any]]:
    """Shipped entries (name -> card), optionally only those of `kind` ('model' or 'supernet')."""
    return {n: c for n, c in _cards().items() if kind is None or c.get("kind") == kind}


def is_pretrained_model(name: str) -> bool:
    """Whether `name` is a shipped model's name (a name, not a path)."""
    return "/" not in str(name) and str(name) in available_pretrained("model")


def pretrained_model(name: str) -> Path:
    """The model.pt of shipped model `name`; ConfigError listing the shipped names otherwise."""
    models = available_pretrained("model")
    if name not in models:
        raise ConfigError(f"no shipped model called {name!r}; shipped: {', '.join(models) or 'none'}")
    return PRETRAINED_DIR / name / "model.pt"


def resolve_model(spec: str) -> str:
    """A shipped model's name becomes the path of its model.pt; anything else is returned unchanged."""
    return str(PRETRAINED_DIR / spec / "model.pt") if is_pretrained_model(spec) else spec


def model_label(path: os.PathLike | str) -> str:
    """How messages and tables name a model file: a shipped model's name (depth-x8), else the file's name."""
    p = Path(path)
    shipped = p.parent.name
    if p.name == "model.pt" and p.resolve().parent.parent == PRETRAINED_DIR.resolve() \
            and shipped in available_pretrained("model"):
        return shipped
    return p.name


def shipped_models_at(scale: int) -> List[str]:
    """Names of the shipped models that upsample ×`scale`."""
    return [n for n, c in available_pretrained("model").items() if int(c.get("scale", 0)) == int(scale)]


def scale_hint(scale: int) -> str:
    """'; shipped ×4 model: depth-x4' (or '' when none is shipped at `scale`), for wrong-scale messages."""
    names = shipped_models_at(scale)
    return f"; shipped ×{scale} model{'s' if len(names) > 1 else ''}: {', '.join(names)}" if names else ""


def resolve_supernet(spec: str) -> Path:
    """A shipped supernet's name becomes its folder; anything else is taken as a run folder path."""
    return PRETRAINED_DIR / spec if "/" not in spec and spec in available_pretrained("supernet") else Path(spec)


def default_supernet(scale: Optional[int] = None) -> Optional[Path]:
    """The shipped supernet run folder marked `default: true` (of `scale` when given), or None."""
    for name, card in available_pretrained("supernet").items():
        if card.get("default") and (scale is None or int(card.get("scale", 0)) == scale):
            return PRETRAINED_DIR / name
    return None


def supernet_for_space(space: Dict[str, Any]) -> Optional[Path]:
    """The shipped supernet trained in exactly this search space (its card's `space`), or None."""
    for name, card in available_pretrained("supernet").items():
        if card.get("space") == space:
            return PRETRAINED_DIR / name
    return None


DEFAULT_MODEL = "depth-x8"
"""What `export` takes when no --model is given and no model.pt is under runs/."""
