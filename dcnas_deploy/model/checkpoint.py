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
RUN_FORMAT = "dcnas-run/1"
"""Format of a run directory's checkpoint.pt (written by train.rundir): training state, not a model."""


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
    _refuse_other_files(p)
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


def _refuse_other_files(p: Path) -> None:
    """ConfigError, before unpickling anything, for the files people most often give instead of model.pt."""
    if not p.is_file():
        return  # load_torch_file says it is missing
    if p.suffix.lower() in (".onnx", ".xml", ".tflite", ".bin"):
        raise ConfigError(f"{p} is an exported model, not a training checkpoint: `export` converts the model.pt "
                          f"written by `dcnas-deploy train`; an exported file is used as it is by `evaluate`, "
                          f"`upsample` and `benchmark`")
    head = peek_checkpoint(p)
    if head is None:
        raise ConfigError(f"{p} is not a PyTorch checkpoint (not a zip archive; truncated or another kind of file): "
                          f"give the model.pt written by `dcnas-deploy train`")
    if head.get("format") == RUN_FORMAT:
        if head.get("kind") == "supernet":
            raise ConfigError(f"{p} is a supernet checkpoint (the training state of `train-supernet`), not a model: "
                              f"run `dcnas-deploy search --supernet {p.parent}` to pick an architecture, then "
                              f"`dcnas-deploy train --arch ARCH.yaml` to train it into model.pt")
        raise ConfigError(f"{p} is the training state of `dcnas-deploy train` (for --resume), not the model: "
                          f"give {p.parent / 'model.pt'}")


def peek_checkpoint(path: Path) -> Optional[Dict[str, str]]:
    """The leading string fields ('format', 'kind') of a torch.save'd dict, read without unpickling;
    None when the file is not a torch zip archive."""
    import pickletools
    import zipfile

    try:
        with zipfile.ZipFile(path) as z:
            name = next((n for n in z.namelist() if n.endswith("/data.pkl")), None)
            data = z.read(name) if name else b""
    except (zipfile.BadZipFile, OSError, KeyError):
        return None
    strings = []
    try:
        for op, arg, _ in pickletools.genops(data):
            if isinstance(arg, str) and op.name.endswith("UNICODE"):
                strings.append(arg)
            if len(strings) >= 4:
                break
    except Exception:  # a damaged pickle stream: whatever was read so far
        pass
    return dict(zip(strings[::2], strings[1::2]))
