"""Each op of the space as its own small module + example inputs, for per-op latency profiling."""
from __future__ import annotations

from typing import Callable, Dict, Tuple

import torch
from torch import nn

from dcnas_deploy.model.bicubic import BicubicUpsample
from dcnas_deploy.model.blocks import AttentionFusion, ConcatPW, MobileBlock, Upsampler, downsampler, head, stem
from dcnas_deploy.space import Op


class Add(nn.Module):
    """Element-wise sum of two feature maps (fusion 'sum' and the decoder-state add)."""

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return a + b


class Head(nn.Module):
    """Output conv plus the global residual, as at the end of the network."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.conv = head(c_in, c_out)

    def forward(self, x: torch.Tensor, lr_up: torch.Tensor) -> torch.Tensor:
        return self.conv(x) + lr_up


_BUILDERS: Dict[str, Callable[[Op], nn.Module]] = {
    "lr_up": lambda op: BicubicUpsample(op.s, op.c_in),
    "stem": lambda op: stem(op.c_in, op.c_out),
    "mbconv": lambda op: MobileBlock(op.c_in, op.k, op.e),
    "down": lambda op: downsampler(op.c_in, op.c_out),
    "up": lambda op: Upsampler(op.c_in, op.c_out),
    "fuse_sum": lambda op: Add(),
    "add": lambda op: Add(),
    "fuse_concat_pw": lambda op: ConcatPW(op.c_in),
    "fuse_attention": lambda op: AttentionFusion(op.c_in),
    "head": lambda op: Head(op.c_in, op.c_out),
}
_TWO_INPUTS = {"fuse_sum", "add", "fuse_concat_pw", "fuse_attention"}


def op_model(op: Op, seed: int = 0) -> Tuple[nn.Module, Tuple[torch.Tensor, ...]]:
    """(module in eval mode, example inputs) that compute exactly this op at its shapes."""
    torch.manual_seed(seed)
    module = _BUILDERS[op.kind](op).eval()
    x = torch.rand(1, op.c_in, op.h, op.w)
    if op.kind in _TWO_INPUTS:
        return module, (x, torch.rand_like(x))
    if op.kind == "head":
        return module, (x, torch.rand(1, op.c_out, op.h, op.w))
    return module, (x,)
