"""`Deployable`: a trained SubNet wrapped so an exported graph takes depth in its own units.

    lr (N×C×h×w, dataset units) ─ min/max per image and band ─ normalise ─ SubNet ─ de-normalise ─ sr (units)
    guide (N×G×H×W, e.g. RGB in [0, 1]) ───────────────────────────────────┘

C and G are the space's target and guide band counts (the task's). Each band is normalised by its own
min/max (bands of a multispectral target have different ranges); for one band this is per image.
Normalisation is spec §1's `lr` mode, the same definition as `dcnas_deploy.data.normalize.norm_stats("lr")`:
x → (x − lo) / span with span = hi − lo, or 1 when the LR is constant (hi == lo), so a flat LR never
divides by zero. (An epsilon floor would also avoid the division but would scale the network's
output by ε on flat input; span = 1 is what the data pipeline does, so the graph does the same.)
Unlike `norm_stats`, the graph cannot skip holes (0/NaN): callers fill holes first, as every
upsampler does (`dcnas_deploy.data.holes.fill_holes`).

Only portable ops: ReduceMin/ReduceMax, Sub, Div, Mul, Add, Greater + Where (Select in TFLite),
and Transpose for the NHWC variant.
"""
from __future__ import annotations

from typing import Any, Dict, Tuple

import torch
from torch import nn

from dcnas_deploy.errors import ConfigError

NORM_MODES = ("lr", "none")
"""In-graph normalisation: 'lr' (deployable, spec §1) or 'none' (the graph sees raw inputs)."""


class Deployable(nn.Module):
    """`Deployable(subnet)(lr_units, guide01) -> sr_units`; NCHW, or NHWC in and out with `nhwc=True`."""

    def __init__(self, subnet: nn.Module, norm: str = "lr", nhwc: bool = False):
        super().__init__()
        if norm not in NORM_MODES:
            raise ConfigError(f"in-graph normalisation must be one of {list(NORM_MODES)}, got {norm!r} "
                              "('gt' needs the ground truth, so it cannot be part of a deployed graph)")
        subnet.eval()  # (a PT2E-quantized body's patched eval() returns None, so don't chain it)
        self.subnet: Any = subnet  # a SubNet, or a PT2E-quantized body of one
        self.norm = norm
        self.nhwc = bool(nhwc)

    @property
    def space(self):
        """The SubNet's search space (scale, channel counts, default HR size)."""
        return self.subnet.space

    def forward(self, lr: torch.Tensor, guide: torch.Tensor) -> torch.Tensor:
        if self.nhwc:
            lr, guide = lr.permute(0, 3, 1, 2), guide.permute(0, 3, 1, 2)
        if self.norm == "lr":
            lo = torch.amin(lr, dim=(2, 3), keepdim=True)
            hi = torch.amax(lr, dim=(2, 3), keepdim=True)
            diff = hi - lo
            span = torch.where(diff > 0, diff, torch.ones_like(diff))
            sr = self.subnet((lr - lo) / span, guide) * span + lo
        else:
            sr = self.subnet(lr, guide)
        if self.nhwc:
            sr = sr.permute(0, 2, 3, 1)
        return sr

    def example_inputs(self, hr_size: Tuple[int, int], batch: int = 1, seed: int = 0) -> Tuple[torch.Tensor, ...]:
        """Random (lr, guide) in this module's layout at HR size `hr_size` (checked against the space)."""
        space = self.space
        h, w = space.check_hr(hr_size)
        s = space.scale
        gen = torch.Generator().manual_seed(seed)
        lr = torch.rand(batch, space.target_channels, h // s, w // s, generator=gen) * 100.0 + 10.0
        guide = torch.rand(batch, space.guide_channels, h, w, generator=gen)
        if self.nhwc:
            lr, guide = lr.permute(0, 2, 3, 1).contiguous(), guide.permute(0, 2, 3, 1).contiguous()
        return lr, guide

    def describe(self) -> Dict[str, Any]:
        """What the graph expects (goes into the exported file's metadata)."""
        layout = "NHWC" if self.nhwc else "NCHW"
        c, g = self.space.target_channels, self.space.guide_channels
        return {"norm": self.norm, "layout": layout,
                "inputs": {"lr": f"{c}-band LR target in its own units ({layout})",
                           "guide": f"{g}-band guide in [0, 1] ({layout})"},
                "output": f"{c}-band sr in the LR's units ({layout})"}


def deployable_from_checkpoint(path, norm: str = "", nhwc: bool = False) -> Tuple[Deployable, Dict[str, Any]]:
    """Load a `save_model` checkpoint and wrap it; `norm` defaults to the checkpoint's meta (else 'lr')."""
    from dcnas_deploy.model.checkpoint import load_model

    subnet, meta = load_model(path)
    mode = norm or str(meta.get("norm", "lr"))
    if mode == "gt":
        raise ConfigError(f"{path} was trained with 'gt' normalisation (the published protocol, which needs the "
                          "ground truth); a deployed graph can only normalise by its LR input: retrain with "
                          "norm 'lr', or pass --norm lr to export it anyway (its accuracy check will tell)")
    return Deployable(subnet, mode, nhwc).eval(), meta
