"""`SubNet`: a plain, exportable module for one architecture (only its live parts exist)."""
from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from dcnas_deploy.model.blocks import Fusion, MobileBlock
from dcnas_deploy.model.network import GISRBody, Plan
from dcnas_deploy.space import Arch, SearchSpace
from dcnas_deploy.space.genes import BLOCKS, LEVELS, SLOTS, block_gene


def stage_key(branch: str, level: int) -> str:
    """ModuleDict key of one stage, e.g. 'decoder_s2'."""
    return f"{branch}_s{level}"


class SubNet(GISRBody):
    """`sub(lr, guide) -> sr` for one architecture; randomly initialised unless weights are copied in."""

    def __init__(self, space: SearchSpace, arch: Arch):
        plan = Plan(space, arch)
        super().__init__(space, plan)
        self.arch, self.plan = arch, plan
        self.stages = nn.ModuleDict()
        for branch, live in (("target_encoder", plan.target), ("guide_encoder", plan.guide),
                             ("decoder", plan.decoder)):
            for lv in range(LEVELS):
                if live[lv]:
                    blocks = [BLOCKS[arch.genes[block_gene(branch, lv, s)]] for s in range(SLOTS)]
                    self.stages[stage_key(branch, lv)] = nn.Sequential(
                        *[MobileBlock(space.channels(lv), k, e) for k, e in blocks if k])
        self.fusions = nn.ModuleDict({str(lv): Fusion(plan.fusion[lv], space.channels(lv))
                                      for lv in range(LEVELS) if plan.decoder[lv]})

    def forward(self, lr: torch.Tensor, guide: torch.Tensor) -> torch.Tensor:
        return self.run(lr, guide, self.plan, self._stage, self._fuse)

    def _stage(self, branch: str, level: int, x: torch.Tensor) -> torch.Tensor:
        return self.stages[stage_key(branch, level)](x)

    def _fuse(self, level: int, t: Optional[torch.Tensor], g: Optional[torch.Tensor]) -> Optional[torch.Tensor]:
        return self.fusions[str(level)](t, g)


def timing_model(space: SearchSpace, arch: Arch) -> tuple:
    """(SubNet in eval mode, (lr, guide) random inputs at the space's geometry), seeded: what every end-to-end timing runs."""
    h, w = space.hr_size
    torch.manual_seed(0)
    return SubNet(space, arch).eval(), (torch.rand(1, space.target_channels, h // space.scale, w // space.scale),
                                        torch.rand(1, space.guide_channels, h, w))
