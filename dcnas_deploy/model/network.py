"""The DCNAS network body shared by the supernet and materialised subnets: one forward, one plan."""
from __future__ import annotations

from typing import Callable, Dict, Optional, Tuple

import torch
from torch import nn

from dcnas_deploy.model.bicubic import BicubicUpsample
from dcnas_deploy.space import Arch, SearchSpace
from dcnas_deploy.space.genes import FUSIONS, LEVELS

StageFn = Callable[[str, int, torch.Tensor], torch.Tensor]
FusionFn = Callable[[int, Optional[torch.Tensor], Optional[torch.Tensor]], Optional[torch.Tensor]]


class Plan:
    """What runs for one architecture: live stages per branch and the fusion op per level."""

    def __init__(self, space: SearchSpace, arch: Arch):
        lv = space.liveness(arch.array())
        self.target: Tuple[bool, ...] = tuple(bool(x) for x in lv.target[0])
        self.guide: Tuple[bool, ...] = tuple(bool(x) for x in lv.guide[0])
        self.decoder: Tuple[bool, ...] = tuple(bool(x) for x in lv.decoder[0])
        self.fusion: Tuple[str, ...] = tuple(FUSIONS[int(i)] for i in lv.fusion[0])


class GISRBody(nn.Module):
    """Stems, samplers, head and the in-graph LR-up; subclasses supply stages and fusions."""

    def __init__(self, space: SearchSpace, plan: Optional[Plan] = None):
        super().__init__()
        self.space = space
        c = space.channels
        live = lambda branch, lv: plan is None or getattr(plan, branch)[lv]
        self.lr_up = BicubicUpsample(space.scale, space.target_channels)
        self.stems = nn.ModuleDict()
        self.downs = nn.ModuleDict()
        from dcnas_deploy.model.blocks import Upsampler, downsampler, head, stem

        for branch, c_in in (("target", space.target_channels), ("guide", space.guide_channels)):
            if live(branch, 0):
                self.stems[branch] = stem(c_in, c(0))
            for lv in range(1, LEVELS):
                if live(branch, lv):
                    self.downs[f"{branch}{lv}"] = downsampler(c(lv - 1), c(lv))
        self.ups = nn.ModuleDict({str(lv): Upsampler(c(lv), c(lv - 1)) for lv in range(1, LEVELS)
                                  if live("decoder", lv) and live("decoder", lv - 1)})
        self.head = head(c(0), space.target_channels) if live("decoder", 0) else None

    def run(self, lr: torch.Tensor, guide: torch.Tensor, plan: Plan, stage: StageFn, fuse: FusionFn) -> torch.Tensor:
        """Forward of one path: encoders, deepest-first fusion decoder, head + lr_up."""
        lr_up = self.lr_up(lr)
        feats: Dict[Tuple[str, int], torch.Tensor] = {}
        for branch, x0, live in (("target", lr_up, plan.target), ("guide", guide, plan.guide)):
            x = x0
            for lv in range(LEVELS):
                if not live[lv]:
                    break  # liveness is monotone: deeper stages are dead too
                x = self.stems[branch](x) if lv == 0 else self.downs[f"{branch}{lv}"](x)
                x = stage(f"{branch}_encoder", lv, x)
                feats[(branch, lv)] = x
        state: Optional[torch.Tensor] = None
        for lv in range(LEVELS - 1, -1, -1):
            if not plan.decoder[lv]:
                continue
            if state is not None:
                state = self.ups[str(lv + 1)](state)
            fused = fuse(lv, feats.get(("target", lv)), feats.get(("guide", lv)))
            if fused is not None:
                state = fused if state is None else state + fused
            state = stage("decoder", lv, state)  # type: ignore[arg-type]  # a live decoder level has input
        return lr_up if state is None else self.head(state) + lr_up  # type: ignore[misc]  # head exists when level 0 decodes


def check_inputs(space: SearchSpace, lr: torch.Tensor, guide: torch.Tensor) -> None:
    """Shape checks with messages that say what was expected."""
    if lr.dim() != 4 or lr.shape[1] != space.target_channels:
        raise ValueError(f"lr must be N×{space.target_channels}×h×w, got {tuple(lr.shape)}")
    if guide.dim() != 4 or guide.shape[1] != space.guide_channels:
        raise ValueError(f"guide must be N×{space.guide_channels}×H×W, got {tuple(guide.shape)}")
    s = space.scale
    if guide.shape[2] != lr.shape[2] * s or guide.shape[3] != lr.shape[3] * s:
        raise ValueError(f"guide {tuple(guide.shape[2:])} must be ×{s} the LR {tuple(lr.shape[2:])}")
    space.check_hr((guide.shape[2], guide.shape[3]))
