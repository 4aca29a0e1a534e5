"""Model checkpoints: one file holding a trained SubNet's space, architecture, weights and metadata."""
from __future__ import annotations

import io
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

import torch

from dcnas_deploy.errors import ConfigError
from dcnas_deploy.fileio import atomic_write_bytes, load_torch_file
from dcnas_deploy.model.subnet import SubNet
from dcnas_deploy.space import Arch, SearchSpace

FORMAT = "dcnas-model/1"


def save_model(path: Path | str, model: SubNet, meta: Optional[Dict[str, Any]] = None) -> Path:
    """Write a SubNet checkpoint atomically (space, arch, state_dict, free-form meta such as norm mode)."""
    payload = {"format": FORMAT, "space": model.space.to_dict(), "arch": model.arch.to_dict(),
               "state_dict": model.state_dict(), "meta": dict(meta or {})}
    buf = io.BytesIO()
    torch.save(payload, buf)
    return atomic_write_bytes(path, buf.getvalue())


def load_model(path: Path | str) -> Tuple[SubNet, Dict[str, Any]]:
    """Read a SubNet checkpoint; a corrupt or foreign file gives a ConfigError saying what it is."""
    p = Path(path)
    payload = load_torch_file(p, "checkpoint")
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        fmt = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
        raise ConfigError(f"{p}: not a dcnas model checkpoint (format {fmt!r}, expected {FORMAT!r}); "
                          f"supernet run checkpoints are used with --supernet, not --model")
    space = SearchSpace.from_dict(payload["space"])
    model = SubNet(space, Arch.from_dict(payload["arch"], source=str(p)))
    try:
        model.load_state_dict(payload["state_dict"])
    except RuntimeError as exc:
        raise ConfigError(f"{p}: weights do not match its architecture: {exc}") from None
    return model.eval(), payload.get("meta", {})
