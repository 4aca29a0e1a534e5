"""Weight-sharing supernet (spec §3): elastic mobile blocks, every fusion op, `materialize(arch)`."""
from __future__ import annotations

from typing import Optional, Tuple

import torch
from torch import nn

from dcnas_deploy.model.blocks import Fusion, MobileBlock, mobile_block_forward, se_width
from dcnas_deploy.model.network import GISRBody, Plan, check_inputs
from dcnas_deploy.model.subnet import SubNet, stage_key
from dcnas_deploy.space import Arch, SearchSpace
from dcnas_deploy.space.genes import BLOCKS, EXPANDS, FUSIONS, KERNELS, LEVELS, SLOTS, block_gene


class ElasticMobileBlock(nn.Module):
    """Mobile block holding the largest weights; (k, e) take the first e·C hidden channels and the
    centre of the 7×7 kernel through learned, identity-initialised transforms (7→5, 5→3)."""

    def __init__(self, channels: int):
        super().__init__()
        self.channels = channels
        max_h = channels * max(EXPANDS)
        kmax = max(KERNELS)
        self.expand_conv = nn.Conv2d(channels, max_h, 1)
        self.dw = nn.Conv2d(max_h, max_h, kmax, padding=kmax // 2, groups=max_h)
        self.se_reduce = nn.Conv2d(max_h, se_width(max_h), 1)
        self.se_expand = nn.Conv2d(se_width(max_h), max_h, 1)
        self.project = nn.Conv2d(max_h, channels, 1)
        self.kernel_transforms = nn.ParameterDict({
            f"{big}to{small}": nn.Parameter(torch.eye(small * small))
            for big, small in zip(sorted(KERNELS, reverse=True)[:-1], sorted(KERNELS, reverse=True)[1:])})

    def dw_kernel(self, kernel: int, hidden: int) -> torch.Tensor:
        """Depthwise kernel of size `kernel` for the first `hidden` channels."""
        w = self.dw.weight[:hidden]
        size = w.shape[-1]
        while size > kernel:
            small = size - 2
            crop = w[:, :, 1:1 + small, 1:1 + small].reshape(hidden, small * small)
            w = (crop @ self.kernel_transforms[f"{size}to{small}"]).reshape(hidden, 1, small, small)
            size = small
        return w

    def weights(self, kernel: int, expand: int) -> Tuple[torch.Tensor, ...]:
        """The ten tensors of the (kernel, expand) sub-block, in mobile_block_forward's order."""
        h = self.channels * expand
        r = se_width(h)
        return (self.expand_conv.weight[:h], self.expand_conv.bias[:h],
                self.dw_kernel(kernel, h), self.dw.bias[:h],
                self.se_reduce.weight[:r, :h], self.se_reduce.bias[:r],
                self.se_expand.weight[:h, :r], self.se_expand.bias[:h],
                self.project.weight[:, :h], self.project.bias)

    def forward(self, x: torch.Tensor, kernel: int, expand: int) -> torch.Tensor:
        return mobile_block_forward(x, *self.weights(kernel, expand))

    @torch.no_grad()
    def copy_into(self, block: MobileBlock) -> MobileBlock:
        """Copy this block's (block.kernel, block.expand) path weights into a static MobileBlock."""
        params = [block.expand_conv.weight, block.expand_conv.bias, block.dw.weight, block.dw.bias,
                  block.se_reduce.weight, block.se_reduce.bias, block.se_expand.weight, block.se_expand.bias,
                  block.project.weight, block.project.bias]
        for dst, src in zip(params, self.weights(block.kernel, block.expand)):
            dst.copy_(src)
        return block


class Supernet(GISRBody):
    """All paths of a SearchSpace with shared weights; `net(lr, guide, arch=a)` runs one path."""

    def __init__(self, space: SearchSpace):
        super().__init__(space, plan=None)
        self.stages = nn.ModuleDict({
            stage_key(branch, lv): nn.ModuleList([ElasticMobileBlock(space.channels(lv)) for _ in range(SLOTS)])
            for branch in ("target_encoder", "guide_encoder", "decoder") for lv in range(LEVELS)})
        self.fusions = nn.ModuleDict({str(lv): nn.ModuleDict({f: Fusion(f, space.channels(lv)) for f in FUSIONS})
                                      for lv in range(LEVELS)})

    def forward(self, lr: torch.Tensor, guide: torch.Tensor, arch: Arch) -> torch.Tensor:
        check_inputs(self.space, lr, guide)
        plan = Plan(self.space, arch)

        def stage(branch: str, lv: int, x: torch.Tensor) -> torch.Tensor:
            for slot, block in enumerate(self.stages[stage_key(branch, lv)]):
                k, e = BLOCKS[arch.genes[block_gene(branch, lv, slot)]]
                if k:
                    x = block(x, k, e)
            return x

        def fuse(lv: int, t: Optional[torch.Tensor], g: Optional[torch.Tensor]) -> Optional[torch.Tensor]:
            return self.fusions[str(lv)][plan.fusion[lv]](t, g)

        return self.run(lr, guide, plan, stage, fuse)

    @torch.no_grad()
    def materialize(self, arch: Arch) -> SubNet:
        """A plain SubNet with copies of this path's weights (no slicing left, exportable)."""
        sub = SubNet(self.space, arch)
        plan = sub.plan
        for name, module in (("stems", sub.stems), ("downs", sub.downs), ("ups", sub.ups)):
            for key, m in module.items():
                m.load_state_dict(getattr(self, name)[key].state_dict())
        if sub.head is not None:
            sub.head.load_state_dict(self.head.state_dict())
        for lv, fusion in sub.fusions.items():
            fusion.load_state_dict(self.fusions[lv][plan.fusion[int(lv)]].state_dict())
        for key, seq in sub.stages.items():
            branch, lv = key.rsplit("_s", 1)
            slots = [s for s in range(SLOTS) if arch.block(branch, int(lv), s) != "skip"]
            for block, slot in zip(seq, slots):
                self.stages[key][slot].copy_into(block)
        return sub
