"""Run directories: preset.yaml, checkpoint.pt (atomic), log.csv, TensorBoard events, predictor.pt,
scored_paths.csv; the rules for starting, resuming and refusing a mismatched resume.
"""
from __future__ import annotations

import csv
import io
import random
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
import torch

from dcnas_deploy.errors import ConfigError
from dcnas_deploy.fileio import atomic_write, atomic_write_text, load_torch_file
from dcnas_deploy.model.checkpoint import RUN_FORMAT as FORMAT
from dcnas_deploy.presets import Preset, load_preset_file

RESUMABLE_CHANGES = ("training.steps", "retrain.steps")
"""Preset keys a resume may change (to extend a finished run)."""


class RunDir:
    """The files of one training run."""

    def __init__(self, path: Path | str):
        self.path = Path(path)

    preset_path = property(lambda self: self.path / "preset.yaml")
    checkpoint_path = property(lambda self: self.path / "checkpoint.pt")
    log_path = property(lambda self: self.path / "log.csv")
    scored_path = property(lambda self: self.path / "scored_paths.csv")
    predictor_path = property(lambda self: self.path / "predictor.pt")
    model_path = property(lambda self: self.path / "model.pt")

    def has_checkpoint(self) -> bool:
        """True when a checkpoint exists."""
        return self.checkpoint_path.is_file()

    def read_preset(self) -> Preset:
        """The preset this run was started with."""
        if not self.preset_path.is_file():
            raise ConfigError(f"{self.path} is not a run directory (no preset.yaml)")
        return load_preset_file(self.preset_path)

    def prepare(self, preset: Preset, resume: bool, kind: str) -> Optional[Dict[str, Any]]:
        """Start (write preset.yaml) or resume (check it, load the checkpoint); returns the checkpoint or None."""
        if resume:
            if not self.has_checkpoint():
                raise ConfigError(f"nothing to resume in {self.path}: no checkpoint.pt (start it without --resume)")
            ckpt = self.load_checkpoint()
            if ckpt.get("kind") != kind:
                raise ConfigError(f"{self.path} holds a {ckpt.get('kind')!r} run, not a {kind!r} run")
            previous = self.read_preset()
            diffs = previous.diff(preset, ignore=RESUMABLE_CHANGES)
            if diffs:
                raise ConfigError(f"cannot resume {self.path} with a different preset; changed: "
                                  + "; ".join(diffs) + " (only " + ", ".join(RESUMABLE_CHANGES)
                                  + " may change on resume; start a new --out to use other settings)")
            atomic_write_text(self.preset_path, preset.to_yaml())
            return ckpt
        if self.has_checkpoint():
            step = self.load_checkpoint().get("step", "?")
            raise ConfigError(f"{self.path} already holds a run (checkpoint at step {step}); pass --resume to "
                              f"continue it or choose another --out")
        self.path.mkdir(parents=True, exist_ok=True)
        for stale in (self.log_path, self.scored_path):
            if stale.exists():
                stale.unlink()
        atomic_write_text(self.preset_path, preset.to_yaml())
        return None

    def save_checkpoint(self, payload: Dict[str, Any]) -> Path:
        """Write checkpoint.pt atomically (a kill mid-write leaves the previous one)."""
        payload = {"format": FORMAT, **payload}
        return atomic_write(self.checkpoint_path, lambda tmp: torch.save(payload, tmp))

    def load_checkpoint(self) -> Dict[str, Any]:
        """Read checkpoint.pt (ConfigError when missing, corrupt or foreign)."""
        p = self.checkpoint_path
        if not p.is_file():
            raise ConfigError(f"no checkpoint in {self.path}")
        ckpt = load_torch_file(p, "checkpoint", weights_only=False)
        if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
            raise ConfigError(f"{p}: not a dcnas run checkpoint (expected format {FORMAT!r})")
        return ckpt


class CsvLog:
    """Append-only CSV with a fixed header; `truncate(step)` drops rows after a resumed checkpoint."""

    def __init__(self, path: Path, fields: Sequence[str]):
        self.path, self.fields = Path(path), list(fields)

    def append(self, row: Dict[str, Any]) -> None:
        """Write one row (missing fields empty, floats in short form) and flush."""
        new = not self.path.exists() or self.path.stat().st_size == 0
        with open(self.path, "a", newline="") as f:
            w = csv.DictWriter(f, fieldnames=self.fields, extrasaction="ignore")
            if new:
                w.writeheader()
            w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})

    def truncate(self, max_step: int) -> None:
        """Keep rows with step ≤ max_step."""
        if not self.path.is_file():
            return
        with open(self.path, newline="") as f:
            rows = list(csv.DictReader(f))
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=self.fields, extrasaction="ignore")
        w.writeheader()
        w.writerows(r for r in rows if int(r["step"]) <= max_step)
        atomic_write_text(self.path, buf.getvalue())

    def read(self) -> List[Dict[str, str]]:
        """All rows."""
        if not self.path.is_file():
            return []
        with open(self.path, newline="") as f:
            return list(csv.DictReader(f))


class Events:
    """TensorBoard scalars in the run directory (events.out.tfevents.*); silently off without tensorboard."""

    def __init__(self, path: Path, purge_step: Optional[int] = None, enabled: bool = True):
        self.writer = None
        if not enabled:
            return
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:  # tensorboard is the optional 'train' extra
            self.writer = None
            return
        self.writer = SummaryWriter(log_dir=str(path), purge_step=purge_step)

    def scalars(self, step: int, values: Dict[str, Any], prefix: str = "") -> None:
        """Log every finite number of `values`."""
        if self.writer is None:
            return
        for k, v in values.items():
            if isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v):
                self.writer.add_scalar(f"{prefix}{k}", v, step)

    def close(self) -> None:
        """Flush and close."""
        if self.writer is not None:
            self.writer.close()


def capture_rng() -> Dict[str, Any]:
    """States of the torch, CUDA, numpy-global and python RNGs."""
    state = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: Dict[str, Any]) -> None:
    """Inverse of capture_rng (the CUDA states only when the device count matches)."""
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])


def seed_everything(seed: int) -> None:
    """Seed python, numpy's global generator and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % 2 ** 32)
    torch.manual_seed(seed)
