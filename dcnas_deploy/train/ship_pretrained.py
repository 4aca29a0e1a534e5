"""Write a shipped entry (dcnas_deploy/pretrained/<name>/) from a finished run: weights, card, nothing invented.

A model is copied with its weights in fp16 when that keeps its outputs within `FP16_MAX_ABS` of the fp32
ones on the check input (halves the file); a supernet run is slimmed to what `search` and
`train --init supernet` read (weights, preset, step; the optimiser state is dropped) plus its predictor.
The card records where the weights came from and the metrics the caller measured.
"""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, Dict, Optional

from dcnas_deploy.fileio import atomic_write, atomic_write_text
from dcnas_deploy.pretrained import CARD, PRETRAINED_DIR

FP16_MAX_ABS = 1e-3
"""Largest output change (normalised units) fp16 storage may cause for weights to be stored in fp16."""


def _write_card(dest: Path, card: Dict[str, Any]) -> Path:
    import yaml

    return atomic_write_text(dest / CARD, yaml.safe_dump(card, sort_keys=False, allow_unicode=True))


def _half(state: Dict[str, Any]) -> Dict[str, Any]:
    """Floating-point tensors of a state dict in fp16 (integer buffers unchanged)."""
    return {k: (v.half() if v.is_floating_point() else v) for k, v in state.items()}


def ship_model(model_pt: Path, name: str, card: Dict[str, Any], root: Path = PRETRAINED_DIR) -> Path:
    """Copy trained `model_pt` to root/name/model.pt (fp16 weights when harmless) with card.yaml; returns the folder."""
    import copy

    import torch

    from dcnas_deploy.model.checkpoint import load_model

    model, _ = load_model(model_pt)
    payload = torch.load(model_pt, map_location="cpu", weights_only=False)
    half = _half(payload["state_dict"])
    slim = copy.deepcopy(model)
    slim.load_state_dict(half)
    g = torch.Generator().manual_seed(0)
    s = model.space.scale
    lr, guide = torch.rand(1, model.space.target_channels, 16, 16, generator=g), \
        torch.rand(1, model.space.guide_channels, 16 * s, 16 * s, generator=g)
    with torch.inference_mode():
        diff = float((model(lr, guide) - slim(lr, guide)).abs().max())
    dtype = "fp16" if diff <= FP16_MAX_ABS else "fp32"
    if dtype == "fp16":
        payload["state_dict"] = half
    dest = root / name
    dest.mkdir(parents=True, exist_ok=True)
    atomic_write(dest / "model.pt", lambda tmp: torch.save(payload, tmp))
    _write_card(dest, {"kind": "model", "name": name, **card,
                       "weights": {"stored": dtype, "fp16_max_abs_change": round(diff, 8), "from": str(model_pt)}})
    return dest


def update_card(name: str, fields: Dict[str, Any], root: Path = PRETRAINED_DIR) -> Path:
    """Set top-level `fields` (e.g. a re-measured `speed`) of shipped entry `name`'s card; returns the card's path."""
    import yaml

    path = root / name / CARD
    if not path.is_file():
        raise FileNotFoundError(f"no shipped entry {name!r} in {root}")
    card = yaml.safe_load(path.read_text()) or {}
    card.update(fields)
    return _write_card(root / name, card)


def ship_supernet(run_dir: Path, name: str, card: Dict[str, Any], root: Path = PRETRAINED_DIR,
                  check_paths: int = 16, predictor: Optional[Path] = None) -> Path:
    """Slim supernet run `run_dir` into root/name (fp16 weights without optimiser, preset, predictor) + card.yaml.

    The card records how much fp16 storage moved the validation RMSE of `check_paths` random paths. `predictor`
    (e.g. one from `predictor fit` on the final weights) ships as predictor.pt instead of the run's own, and the
    card records what it was fitted on and its held-out ranking.
    """
    import numpy as np

    from dcnas_deploy.train.evaluate import evaluate_paths
    from dcnas_deploy.train.rundir import RunDir
    from dcnas_deploy.train.supernet import load_supernet, validation_set

    shipped_predictor: Dict[str, Any] = {}
    if predictor is not None:
        from dcnas_deploy.predictor.model import Predictor

        meta = Predictor.load(predictor).meta  # a file that is not a predictor is refused before anything is written
        shipped_predictor = {"predictor": {"from": str(predictor), "loss": meta.get("loss"),
                                           "fit_paths": meta.get("fit_paths"),
                                           "supernet_step": meta.get("supernet_step"),
                                           "heldout": meta.get("heldout")}}
    run = RunDir(run_dir)
    ckpt = run.load_checkpoint()
    keep: Dict[str, Any] = {k: ckpt[k] for k in ("kind", "preset", "step") if k in ckpt}
    keep["model"] = _half(ckpt["model"])
    dest = root / name
    dest.mkdir(parents=True, exist_ok=True)
    RunDir(dest).save_checkpoint(keep)
    for extra, src in (("preset.yaml", run.path / "preset.yaml"),
                       ("predictor.pt", Path(predictor) if predictor is not None else run.path / "predictor.pt")):
        if src.is_file():
            shutil.copyfile(src, dest / extra)
    full, preset = load_supernet(run.path)
    slim, _ = load_supernet(dest)
    genomes = full.space.sample_genomes(check_paths, seed=0)
    val = validation_set(preset)
    a, b = evaluate_paths(full, genomes, val, metric="rmse"), evaluate_paths(slim, genomes, val, metric="rmse")
    _write_card(dest, {"kind": "supernet", "name": name, **card, "from": str(run.path),
                       "step": int(ckpt.get("step", 0)), **shipped_predictor,
                       "weights": {"stored": "fp16", "val_rmse_max_rel_change": float(np.max(np.abs(b - a) / a)),
                                   "checked_paths": check_paths}})
    return dest
