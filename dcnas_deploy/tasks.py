"""The GISR tasks the toolchain knows: what a target and a guide are for each, and how it is scored.

A task fixes the contract around the network (spec §1 with other channel counts): the target's and the
guide's band counts, their units and value range, which pixels are holes, the scoring protocol and the
metrics that matter (with their direction), the classical baselines worth comparing against, how the
LR input is made from the HR target, and the embedded procedural data. Presets name their task
(`task: thermal`); data whose bands do not match the task is refused with both named.

Torch-free and cheap to import: the CLI lists tasks without loading anything heavy.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Dict, List, Optional, Tuple

from dcnas_deploy.errors import ConfigError

HIGHER_IS_BETTER = {"rmse": False, "mae": False, "psnr": True, "ssim": True, "fmax": True,
                    "sam": False, "ergas": False, "scc": True, "q": True, "q2n": True,
                    "d_lambda": False, "d_s": False, "qnr": True}
"""Every metric the toolchain computes and whether a larger value is better."""


@dataclass(frozen=True)
class Task:
    """One guided super-resolution task: tensors, units, holes, scoring and defaults."""

    name: str
    description: str
    target: str
    """What the target image is ('depth', 'thermal', 'saliency')."""
    target_channels: int
    guide_channels: int
    guide: str
    """What the guide image is ('RGB in [0, 1]')."""
    units: str
    """The target's units as stored ('m', '0-255', '0-1', ...)."""
    value_range: Optional[Tuple[float, float]]
    """Closed range every target value must lie in, or None when unbounded (depth)."""
    zero_is_hole: bool
    """True when 0 means 'no measurement' (depth); NaN/inf are holes for every task."""
    protocol: str
    """Scoring protocol of the task's embedded procedural data (data.protocols)."""
    metrics: Tuple[str, ...]
    """Metrics reported for the task, the first being the headline one."""
    baselines: Tuple[str, ...]
    """Classical upsamplers compared against (upsamplers registry names)."""
    procedural: str
    """Dataset spec of the embedded procedural data for the task."""
    degradation: str = "PIL bicubic HR→LR (a = −0.5) on float32, after mod-crop"
    normalisation: str = "per band: min–max of each LR band (spec §1 'lr' mode), inverted on the output"
    target_band_choices: Tuple[int, ...] = ()
    """Other target band counts the task also takes (pan-sharpening: 4 or 8); empty = target_channels only."""

    @property
    def headline(self) -> str:
        """The metric tables sort and gate on."""
        return self.metrics[0]

    def to_dict(self) -> Dict[str, object]:
        """Plain dict (for `dcnas-deploy tasks --json` and result files)."""
        return asdict(self)

    def check_bands(self, target_channels: int, guide_channels: int, what: str) -> None:
        """ConfigError naming both when `what` has band counts other than the task's."""
        targets = self.target_band_choices or (self.target_channels,)
        if int(target_channels) not in targets or int(guide_channels) != self.guide_channels:
            want = " or ".join(str(t) for t in targets)
            raise ConfigError(f"{what} has a {target_channels}-band target and a {guide_channels}-band guide, but "
                              f"task {self.name!r} wants a {want}-band {self.target} target and a "
                              f"{self.guide_channels}-band guide ({self.guide})")


_TASKS: Dict[str, Task] = {}


def register_task(task: Task) -> Task:
    """Add `task` to the registry under its name."""
    if any(m not in HIGHER_IS_BETTER for m in task.metrics):
        raise ConfigError(f"task {task.name!r} names unknown metrics {task.metrics}; known: {sorted(HIGHER_IS_BETTER)}")
    _TASKS[task.name] = task
    return task


def get_task(name: str) -> Task:
    """The registered task called `name` (ConfigError listing the known ones otherwise)."""
    try:
        return _TASKS[str(name)]
    except KeyError:
        raise ConfigError(f"unknown task {name!r}; known: {', '.join(sorted(_TASKS))}") from None


def known_tasks() -> List[str]:
    """Names of every registered task."""
    return sorted(_TASKS)


CLASSICAL = ("bicubic", "guided-filter", "jbu")

register_task(Task(
    "depth", "RGB-guided depth map SR (paper §IV-B)", "depth", 1, 3, "RGB in [0, 1]", "dataset units (m, mm, 0-255)",
    None, True, "metres", ("rmse", "mae", "psnr", "ssim"), CLASSICAL, "synthetic"))
register_task(Task(
    "thermal", "RGB-guided thermal image SR (paper §IV-E; PBVS thermal SR challenge layout)", "thermal", 1, 3,
    "RGB in [0, 1]", "0-255 (8-bit thermal counts)", (0.0, 255.0), False, "thermal", ("psnr", "ssim", "rmse", "mae"),
    CLASSICAL, "thermal-synthetic"))
register_task(Task(
    "saliency", "RGB-guided saliency map SR (paper §IV-C; DUT-OMRON layout, ×8)", "saliency", 1, 3, "RGB in [0, 1]",
    "0-1 (saliency probability)", (0.0, 1.0), False, "saliency", ("fmax", "mae", "psnr", "ssim"), CLASSICAL,
    "saliency-synthetic"))
register_task(Task(
    "pansharpening", "pan-sharpening: multispectral target, panchromatic guide (paper §IV-D)", "multispectral", 4, 1,
    "PAN in [0, 1] (DN / sensor max)", "DN (sensor digital numbers)", None, False, "pansharpening",
    ("psnr", "ssim", "sam", "ergas", "scc", "q", "q2n"), ("bicubic", "brovey", "gihs", "gs", "gsa", "mtf-glp"),
    "pansharpening-synthetic",
    degradation="Wald: per-band Gaussian blur matched to the sensor's MTF gain at Nyquist, then decimation",
    target_band_choices=(4, 8)))
