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


MODEL_FIELDS = ("task", "scale", "params", "arch", "budget", "speed", "metrics")
"""What every shipped model's card states."""
SPEED_FIELDS = ("device", "runtime", "threads", "hr", "median_ms", "p10_ms", "p90_ms", "fps", "host", "date")
"""What a card's `speed` states: where (device, host fingerprint key), when, and the measured latency."""


def missing_card_field(card: Dict[str, Any]) -> Optional[str]:
    """The first field a shipped model's card lacks ('speed.fps', 'metrics.middlebury'), or None when complete."""
    for key in MODEL_FIELDS:
        if card.get(key) in (None, "", {}):
            return key
    speed = card["speed"] if isinstance(card["speed"], dict) else {}
    for key in SPEED_FIELDS:
        if speed.get(key) in (None, ""):
            return f"speed.{key}"
    mb = card["metrics"].get("middlebury") if isinstance(card["metrics"], dict) else None
    for who in ("ours", "jbu"):
        if not isinstance(mb, dict) or not isinstance(mb.get(who), dict) or "rmse" not in mb[who]:
            return f"metrics.middlebury.{who}.rmse"
    return None


def check_model_card(name: str, card: Dict[str, Any]) -> None:
    """ConfigError naming the missing field when shipped model `name`'s card is incomplete."""
    field = missing_card_field(card)
    if field is not None:
        raise ConfigError(f"shipped model {name!r}: its card ({PRETRAINED_DIR / name / CARD}) has no '{field}'; "
                          "cards are written by bench/train_pretrained.py with every field measured — re-ship it")


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
    check_model_card(name, models[name])
    return PRETRAINED_DIR / name / "model.pt"


def resolve_model(spec: str) -> str:
    """A shipped model's name becomes the path of its model.pt (its card checked); anything else is unchanged."""
    return str(pretrained_model(spec)) if is_pretrained_model(spec) else spec


def model_label(path: os.PathLike | str) -> str:
    """How messages and tables name a model file: a shipped model's name (depth-x8), else the file's name."""
    p = Path(path)
    shipped = p.parent.name
    if p.name == "model.pt" and p.resolve().parent.parent == PRETRAINED_DIR.resolve() \
            and shipped in available_pretrained("model"):
        return shipped
    return p.name


def speed_note(path: os.PathLike | str, device: str) -> Optional[str]:
    """What the card of the shipped model at `path` says of its speed, and whether it was measured on `device`."""
    name = model_label(path)
    card = available_pretrained("model").get(name)
    if card is None or Path(path).name != "model.pt" or not isinstance(card.get("speed"), dict):
        return None
    sp = card["speed"]
    said = (f"{name}'s card: {float(sp['median_ms']):.1f} ms ({float(sp['fps']):.1f} fps) on {sp['device']} at "
            f"{'x'.join(str(v) for v in sp['hr'])}, {sp['threads']} thread(s), host {sp['host']}, {sp['date'][:10]}")
    if sp["device"] != device:
        said += f"; it was made for {sp['device']}, so that figure was measured elsewhere, not on {device}"
    return said


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
