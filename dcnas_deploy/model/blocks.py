"""Portable static building blocks (conv, depthwise conv, ReLU, sigmoid, mean, PixelShuffle only).

These are what a materialised subnet, an exported model and a LUT op model are made of.
"""
from __future__ import annotations

from typing import Callable, Optional

import torch
from torch import nn


def se_width(hidden: int) -> int:
    """Squeeze-excitation bottleneck width for an expanded width (must match space.Op.se_hidden)."""
    return max(1, hidden // 4)


def mobile_block_forward(x: torch.Tensor, w_exp, b_exp, w_dw, b_dw, w_se1, b_se1, w_se2, b_se2, w_proj, b_proj,
                         depthwise: Optional[Callable[[torch.Tensor], torch.Tensor]] = None) -> torch.Tensor:
    """Mobile block on explicit weights: 1×1 expand, ReLU, k×k depthwise, ReLU, SE, 1×1 project, residual.

    Shared by the static block and the supernet's weight-sharing block, so both compute the same thing;
    `depthwise` replaces the k×k conv by an equivalent form (model.litert_forms).
    """
    f = nn.functional
    h = f.relu(f.conv2d(x, w_exp, b_exp))
    if depthwise is None:
        h = f.relu(f.conv2d(h, w_dw, b_dw, padding=w_dw.shape[-1] // 2, groups=w_dw.shape[0]))
    else:
        h = f.relu(depthwise(h))
    s = h.mean(dim=(2, 3), keepdim=True)
    s = torch.sigmoid(f.conv2d(f.relu(f.conv2d(s, w_se1, b_se1)), w_se2, b_se2))
    return x + f.conv2d(h * s, w_proj, b_proj)


class MobileBlock(nn.Module):
    """Static mobile block with C channels, expand ratio e and depthwise kernel k (no batch-norm)."""

    def __init__(self, channels: int, kernel: int, expand: int):
        super().__init__()
        hid = channels * expand
        self.kernel, self.expand = kernel, expand
        self.expand_conv = nn.Conv2d(channels, hid, 1)
        self.dw = nn.Conv2d(hid, hid, kernel, padding=kernel // 2, groups=hid)
        self.se_reduce = nn.Conv2d(hid, se_width(hid), 1)
        self.se_expand = nn.Conv2d(se_width(hid), hid, 1)
        self.project = nn.Conv2d(hid, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return mobile_block_forward(x, self.expand_conv.weight, self.expand_conv.bias, self.dw.weight, self.dw.bias,
                                    self.se_reduce.weight, self.se_reduce.bias, self.se_expand.weight,
                                    self.se_expand.bias, self.project.weight, self.project.bias)


def stem(c_in: int, c_out: int) -> nn.Conv2d:
    """3×3 stem conv at full resolution."""
    return nn.Conv2d(c_in, c_out, 3, padding=1)


def head(c_in: int, c_out: int) -> nn.Conv2d:
    """3×3 output conv (the global residual lr_up is added by the network)."""
    return nn.Conv2d(c_in, c_out, 3, padding=1)


def downsampler(c_in: int, c_out: int) -> nn.Conv2d:
    """2× downsampler: 2×2 stride-2 conv (== pixel-unshuffle + 1×1 conv)."""
    return nn.Conv2d(c_in, c_out, 2, stride=2)


class Upsampler(nn.Module):
    """2× upsampler: 1×1 conv to 4·C_out channels + PixelShuffle(2)."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.conv = nn.Conv2d(c_in, 4 * c_out, 1)
        self.shuffle = nn.PixelShuffle(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shuffle(self.conv(x))


class ConcatPW(nn.Module):
    """Fusion: concat along channels + 1×1 conv back to C."""

    def __init__(self, channels: int):
        super().__init__()
        self.pw = nn.Conv2d(2 * channels, channels, 1)

    def forward(self, t: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        return self.pw(torch.cat([t, g], dim=1))


class AttentionFusion(nn.Module):
    """Fusion as in AHMF: maps [m_t, m_g] = sigmoid(H(concat)) re-weight each input, then sum."""

    def __init__(self, channels: int):
        super().__init__()
        self.reduce = nn.Conv2d(2 * channels, channels, 1)
        self.expand = nn.Conv2d(channels, 2 * channels, 1)
        self.channels = channels

    def forward(self, t: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        m = torch.sigmoid(self.expand(torch.relu(self.reduce(torch.cat([t, g], dim=1)))))
        c = self.channels
        return m[:, :c] * t + m[:, c:] * g


class Fusion(nn.Module):
    """One fusion op by name; `target`/`guide` pass one input through, `none` contributes nothing."""

    def __init__(self, kind: str, channels: int):
        super().__init__()
        self.kind = kind
        self.op: Optional[nn.Module] = {"concat_pw": ConcatPW, "attention": AttentionFusion}.get(kind, lambda c: None)(
            channels)

    def forward(self, t: Optional[torch.Tensor], g: Optional[torch.Tensor]) -> Optional[torch.Tensor]:
        if self.kind == "sum":
            return t + g  # type: ignore[operator]  # `sum` fuses two live inputs
        if self.kind == "target":
            return t
        if self.kind == "guide":
            return g
        if self.kind == "none":
            return None
        return self.op(t, g)  # type: ignore[misc]  # set for concat_pw/attention
