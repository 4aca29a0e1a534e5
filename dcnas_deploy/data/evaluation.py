"""Score an upsampler on a dataset under the dataset's protocol: per-image metrics and their means."""
from __future__ import annotations

import csv
import io
import json
import math
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

from dcnas_deploy.data.degrade import make_triple
from dcnas_deploy.data.real_lr import DEFAULT_MODE, check_real_lr
from dcnas_deploy.data.resize import pil_bicubic
from dcnas_deploy.data.metrics import METRICS, compute_metrics
from dcnas_deploy.data.protocols import EvalProtocol
from dcnas_deploy.data.registry import Dataset, base_dataset


@dataclass
class ImageResult:
    """Metrics of one image."""

    name: str
    metrics: Dict[str, float]


@dataclass
class EvaluationResult:
    """One model on one dataset at one scale: per-image metrics, their means, and the settings used."""

    model: str
    dataset: str
    split: str
    scale: int
    protocol: EvalProtocol
    noise_level: float = 0.0
    real_lr: bool = False
    images: List[ImageResult] = field(default_factory=list)
    elapsed_s: float = 0.0
    """Wall time of the whole evaluation (bookkeeping, not a latency measurement)."""
    real_lr_mode: str = ""
    """How real LR captures were used ('resize-first' or 'direct', see data.real_lr); '' when none were."""

    task: str = "depth"
    """The task the dataset belongs to (dcnas_deploy.tasks): which metrics matter and which way."""

    @property
    def metric_names(self) -> List[str]:
        """The metrics scored (METRICS, then the task's own, e.g. 'fmax' for saliency)."""
        return list(self.images[0].metrics) if self.images else list(METRICS)

    def mean(self) -> Dict[str, float]:
        """Mean of each metric over the images (the number papers report)."""
        if not self.images:
            return {m: math.nan for m in METRICS}
        return {m: sum(r.metrics[m] for r in self.images) / len(self.images) for m in self.metric_names}

    def to_dict(self) -> Dict[str, Any]:
        """JSON-safe dict (non-finite numbers become null)."""
        def clean(d: Dict[str, float]) -> Dict[str, Optional[float]]:
            return {k: (float(v) if math.isfinite(v) else None) for k, v in d.items()}

        return {"model": self.model, "dataset": self.dataset, "split": self.split, "scale": self.scale,
                "protocol": self.protocol.to_dict(), "noise_level": self.noise_level, "real_lr": self.real_lr,
                "real_lr_mode": self.real_lr_mode, "task": self.task, "count": len(self.images), "mean": clean(self.mean()), "elapsed_s": round(self.elapsed_s, 3),
                "images": [{"name": r.name, **clean(r.metrics)} for r in self.images]}

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> "EvaluationResult":
        """Inverse of to_dict."""
        def num(v: Any) -> float:
            return math.nan if v is None else float(v)

        return cls(d["model"], d["dataset"], d["split"], int(d["scale"]), EvalProtocol(**d["protocol"]),
                   float(d.get("noise_level", 0.0)), bool(d.get("real_lr", False)),
                   [ImageResult(i["name"], {m: num(v) for m, v in i.items() if m != "name"}) for i in d["images"]],
                   float(d.get("elapsed_s", 0.0)), str(d.get("real_lr_mode", "")), str(d.get("task", "depth")))

    def csv_rows(self) -> List[Dict[str, Any]]:
        """One row per image plus a 'mean' row."""
        base = {"model": self.model, "dataset": self.dataset, "split": self.split, "scale": self.scale,
                "unit": self.protocol.unit}
        rows = [{**base, "image": r.name, **r.metrics} for r in self.images]
        rows.append({**base, "image": "mean", **self.mean()})
        return rows


def save_results(results: List[EvaluationResult], json_path: os.PathLike | str) -> List[Path]:
    """Write results to JSON ({"results": [...]}) and a CSV with the same stem, atomically; returns both paths."""
    from dcnas_deploy.fileio import atomic_write_text

    json_path = Path(json_path)
    csv_path = json_path.with_suffix(".csv")
    text = json.dumps({"results": [r.to_dict() for r in results]}, indent=2)
    buf = io.StringIO()
    names = list(dict.fromkeys(m for r in results for m in r.metric_names)) or list(METRICS)
    writer = csv.DictWriter(buf, fieldnames=["model", "dataset", "split", "scale", "unit", "image", *names])
    writer.writeheader()
    for r in results:
        for row in r.csv_rows():
            writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
    return [atomic_write_text(json_path, text), atomic_write_text(csv_path, buf.getvalue())]


def load_results(json_path: os.PathLike | str) -> List[EvaluationResult]:
    """Read a file written by save_results."""
    data = json.loads(Path(json_path).read_text())
    return [EvaluationResult.from_dict(d) for d in data["results"]]


def slug(text: str) -> str:
    """A file-name-safe version of a model spec or sample name."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "item"


def _caption(metrics: Dict[str, float], unit: str) -> str:
    """The score a comparison image is captioned with: RMSE, or QNR for no-reference (full-resolution) data."""
    if "rmse" in metrics:
        return f"RMSE {metrics['rmse']:.3f} {unit}"
    if "qnr" in metrics:
        return f"QNR {metrics['qnr']:.3f} (no reference)"
    key = next(iter(metrics), None)
    return f"{key} {metrics[key]:.3f}" if key is not None else "not scored"


def evaluate(upsampler: Callable, dataset: Dataset, scale: int, *, noise_level: float = 0.0,
             use_real_lr: bool = True, save_images: Optional[os.PathLike | str] = None,
             model_name: Optional[str] = None, dataset_name: Optional[str] = None,
             on_image: Optional[Callable[[ImageResult], None]] = None, real_lr_mode: str = DEFAULT_MODE,
             real_lr_any_scale: bool = False) -> EvaluationResult:
    """Run `upsampler` on every sample of `dataset` at `scale` and score it with the dataset's protocol.

    `save_images`: a folder for side-by-side PNGs; `on_image` is called after each image (progress bars).
    Real LR captures are used under `real_lr_mode` and only at published scales unless `real_lr_any_scale`
    (data.real_lr).
    """
    real_lr = use_real_lr and dataset.has_real_lr
    check_real_lr(dataset if real_lr else None, int(scale), real_lr_mode, real_lr_any_scale)
    name = str(model_name or getattr(upsampler, "name", type(upsampler).__name__))
    from dcnas_deploy.tasks import get_task

    task = get_task(getattr(dataset, "task", "depth"))
    result = EvaluationResult(name, dataset_name or dataset.name, dataset.split, int(scale), dataset.protocol,
                              float(noise_level), real_lr_mode=real_lr_mode if real_lr else "", task=task.name)
    start = time.perf_counter()
    needs_gt = bool(getattr(upsampler, "needs_gt", False))
    no_reference = bool(getattr(base_dataset(dataset), "full_resolution", False))
    for sample in dataset:
        triple = make_triple(sample, scale, noise_level=noise_level, use_real_lr=use_real_lr,
                             real_lr_mode=real_lr_mode)
        result.real_lr = result.real_lr or triple.real_lr
        kw: Dict[str, Any] = {"hr": triple.hr} if needs_gt else {}
        if not triple.zero_is_hole:  # only said when it differs, so depth upsamplers need not know the keyword
            kw["zero_is_hole"] = False
        sr = upsampler(triple.lr, triple.guide, **kw)
        if sr.shape != triple.hr.shape:  # 'direct' real LR: the output is on the capture's grid
            sr = pil_bicubic(sr, triple.hr.shape)
        if no_reference:  # full-resolution pan-sharpening: the target is not a reference
            from dcnas_deploy.data.pansharpen_metrics import full_resolution_metrics

            scores = full_resolution_metrics(sr, triple.lr, triple.guide, int(scale))
        else:
            scores = compute_metrics(sr, triple.hr, dataset.protocol, task.metrics, int(scale))
        image = ImageResult(sample.name, scores)
        result.images.append(image)
        if save_images is not None:
            from dcnas_deploy.data.visualize import save_comparison

            save_comparison(Path(save_images) / f"{slug(sample.name)}.png", triple.guide, triple.lr, sr, triple.hr,
                            dataset.protocol, f"{name} ×{scale} — {sample.name}: "
                                              f"{_caption(image.metrics, dataset.protocol.unit)}")
        if on_image is not None:
            on_image(image)
    result.elapsed_s = time.perf_counter() - start
    return result
