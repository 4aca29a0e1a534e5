"""In-graph bicubic upsampler equal to PIL's bicubic (a = -0.5), built from portable ops only.

For an integer factor s each output phase (py, px) is a fixed 5×5 tap pattern, so the resize is
one zero-padded conv producing s² channels + PixelShuffle. PIL drops taps that fall outside the
image and renormalises the rest; the same conv applied to a ones-image gives exactly those
per-pixel weight sums, and dividing by it reproduces PIL at the borders too.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F

TAPS = 5  # offsets -2..2 cover the cubic's support (|x| < 2) for every phase


def _cubic(x: np.ndarray, a: float = -0.5) -> np.ndarray:
    """Keys' cubic convolution kernel, as PIL evaluates it."""
    x = np.abs(x)
    return np.where(x < 1, ((a + 2) * x - (a + 3)) * x * x + 1,
                    np.where(x < 2, (((x - 5) * x + 8) * x - 4) * a, 0.0))


def phase_weights(scale: int) -> np.ndarray:
    """(scale, 5) unnormalised 1-D weights: phase p, tap offset d = -2..2 (PIL's sample positions)."""
    p = np.arange(scale)[:, None]
    d = np.arange(TAPS)[None, :] - TAPS // 2
    return _cubic(d + 0.5 - (p + 0.5) / scale)


class BicubicUpsample(nn.Module):
    """×scale bicubic upsampling of an N×C×h×w tensor, equal to PIL on float32 (borders included)."""

    weight: torch.Tensor  # a buffer (register_buffer)

    def __init__(self, scale: int, channels: int = 1):
        super().__init__()
        self.scale, self.channels = int(scale), int(channels)
        w1 = phase_weights(self.scale)
        w2 = np.einsum("yi,xj->yxij", w1, w1).reshape(self.scale * self.scale, 1, TAPS, TAPS)
        weight = torch.from_numpy(np.tile(w2, (self.channels, 1, 1, 1))).float()
        self.register_buffer("weight", weight, persistent=False)
        self.shuffle = nn.PixelShuffle(self.scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pad = TAPS // 2
        num = F.conv2d(x, self.weight, padding=pad, groups=self.channels)
        den = F.conv2d(torch.ones_like(x), self.weight, padding=pad, groups=self.channels)
        return self.shuffle(num / den)
