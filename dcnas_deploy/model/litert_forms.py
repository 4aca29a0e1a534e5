"""Exact LiteRT-friendly forms of the ops LiteRT/XNNPACK runs slowly; only the litert convert path uses them.

- 7×7 depthwise conv: XNNPACK on x86 runs it ~25× slower than a 5×5 one (64 ch at 128×128, 1 thread).
  `SplitDepthwise7` computes it as three depthwise convs that partition the 49 taps: the 5×5 centre
  (SAME), rows {0, 6} as a 2×7 kernel dilated (6, 1) and columns {0, 6} of rows 1–5 as a 5×2 kernel
  dilated (1, 6), all SAME-padded, summed. No PAD or SLICE, so the layout stays NHWC; ~3× a 5×5 conv.
- Pixel shuffle: litert-torch lowers `pixel_shuffle` to RESHAPE/TRANSPOSE in NCHW, which bounces every
  op after it (residual ADDs, convs) between layouts. `pixel_shuffle_rows` builds the same tensor from
  one conv output per output-row phase with reshapes and one CONCATENATION in NHWC, so the converter
  keeps NHWC end to end.

Every form is the PyTorch op up to float summation order (max |diff| ~1e-6 at unit scale). LUTs record the forms'
version (runtimes.fingerprint.GRAPH_FORMS): bump it when a form changes, so tables timed on the old graph are
re-profiled instead of reused.
"""
from __future__ import annotations

import copy
from typing import Callable, List, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from dcnas_deploy.model.bicubic import TAPS, BicubicUpsample
from dcnas_deploy.model.blocks import MobileBlock, Upsampler, mobile_block_forward


class SplitDepthwise7(nn.Module):
    """A 7×7 depthwise conv (padding 3) as three SAME depthwise convs over disjoint taps."""

    centre: torch.Tensor  # buffers (register_buffer)
    rows: torch.Tensor
    cols: torch.Tensor
    bias: Optional[torch.Tensor]

    def __init__(self, weight: torch.Tensor, bias: Optional[torch.Tensor]):
        super().__init__()
        if tuple(weight.shape[1:]) != (1, 7, 7):
            raise ValueError(f"SplitDepthwise7 needs a C×1×7×7 depthwise weight, got {tuple(weight.shape)}")
        w = weight.detach()
        self.register_buffer("centre", w[:, :, 1:6, 1:6].clone())
        self.register_buffer("rows", w[:, :, 0:7:6, :].clone())
        self.register_buffer("cols", w[:, :, 1:6, 0:7:6].clone())
        self.register_buffer("bias", None if bias is None else bias.detach().clone())
        self.groups = int(w.shape[0])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        g = self.groups
        y = F.conv2d(x, self.centre, self.bias, padding=2, groups=g)
        y = y + F.conv2d(x, self.rows, padding=3, dilation=(6, 1), groups=g)
        return y + F.conv2d(x, self.cols, padding=(2, 3), dilation=(1, 6), groups=g)


class SplitMobileBlock(nn.Module):
    """A MobileBlock whose 7×7 depthwise conv runs as `SplitDepthwise7`."""

    def __init__(self, block: MobileBlock):
        super().__init__()
        self.block = block
        self.depthwise = SplitDepthwise7(block.dw.weight, block.dw.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b = self.block
        return mobile_block_forward(x, b.expand_conv.weight, b.expand_conv.bias, b.dw.weight, b.dw.bias,
                                    b.se_reduce.weight, b.se_reduce.bias, b.se_expand.weight, b.se_expand.bias,
                                    b.project.weight, b.project.bias, depthwise=self.depthwise)


def pixel_shuffle_rows(rows: Sequence[torch.Tensor]) -> torch.Tensor:
    """`pixel_shuffle(x, r)` from its r row phases: rows[i][:, j·C + c] = x[:, c·r² + i·r + j] (NCHW in and out)."""
    r = len(rows)
    n, rc, h, w = rows[0].shape
    flat = [t.permute(0, 2, 3, 1).reshape(n, h, 1, w * rc) for t in rows]  # NHWC row i: (w, j, c) → column w·r + j
    return torch.cat(flat, dim=2).reshape(n, h * r, w * r, rc // r).permute(0, 3, 1, 2)


def row_phase_index(channels: int, r: int, i: int) -> torch.Tensor:
    """Channels of a pixel-shuffle input that land on output-row phase i, ordered (column phase j, channel c)."""
    return torch.tensor([c * r * r + i * r + j for j in range(r) for c in range(channels)])


class RowShuffleUpsampler(nn.Module):
    """`Upsampler` (1×1 conv + PixelShuffle(2)) as one 1×1 conv per output-row phase + `pixel_shuffle_rows`."""

    weights: torch.Tensor  # buffers: (r, r·C, C_in, 1, 1) and (r, r·C)
    biases: torch.Tensor

    def __init__(self, up: Upsampler):
        super().__init__()
        r = int(up.shuffle.upscale_factor)
        c = up.conv.out_channels // (r * r)
        w = up.conv.weight.detach()
        b = up.conv.bias.detach() if up.conv.bias is not None else torch.zeros(up.conv.out_channels)
        self.register_buffer("weights", torch.stack([w[row_phase_index(c, r, i)] for i in range(r)]))
        self.register_buffer("biases", torch.stack([b[row_phase_index(c, r, i)] for i in range(r)]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return pixel_shuffle_rows([F.conv2d(x, w, b) for w, b in zip(self.weights, self.biases)])


class RowShuffleBicubic(nn.Module):
    """`BicubicUpsample` with its PixelShuffle(s) as s per-row convs + `pixel_shuffle_rows` (C bands: dense convs, zero cross-band taps)."""

    rows: torch.Tensor  # buffer: (s, s·C, C, 5, 5)

    def __init__(self, up: BicubicUpsample):
        super().__init__()
        s, c = up.scale, up.channels
        per_band = up.weight.detach().view(c, s * s, TAPS, TAPS)
        rows = []
        for i in range(s):
            w = torch.zeros(s * c, c, TAPS, TAPS)
            for j in range(s):
                for band in range(c):
                    w[j * c + band, band] = per_band[band, i * s + j]
            rows.append(w)
        self.register_buffer("rows", torch.stack(rows), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pad = TAPS // 2
        ones = torch.ones_like(x)
        return pixel_shuffle_rows([F.conv2d(x, w, padding=pad) / F.conv2d(ones, w, padding=pad) for w in self.rows])


_FORMS: List[Callable[[nn.Module], Optional[nn.Module]]] = [
    lambda m: SplitMobileBlock(m) if isinstance(m, MobileBlock) and m.kernel == 7 else None,
    lambda m: RowShuffleUpsampler(m) if isinstance(m, Upsampler) else None,
    lambda m: RowShuffleBicubic(m) if isinstance(m, BicubicUpsample) else None,
]


def _form_of(module: nn.Module) -> Optional[nn.Module]:
    """The LiteRT form of one module, or None when it has none."""
    for form in _FORMS:
        new = form(module)
        if new is not None:
            return new.train(module.training)
    return None


def litert_rewrites(module: nn.Module) -> List[str]:
    """Names ('' for the module itself) of the submodules `litert_form` replaces."""
    return [name for name, m in module.named_modules() if _form_of(m) is not None]


def litert_form(module: nn.Module) -> nn.Module:
    """A copy of `module` with its 7×7 depthwise convs and pixel shuffles in their exact LiteRT forms (itself if none)."""
    if not litert_rewrites(module):
        return module
    root = _form_of(module)
    if root is not None:
        return root
    out = copy.deepcopy(module)
    for parent in list(out.modules()):
        for name, child in list(parent.named_children()):
            new = _form_of(child)
            if new is not None:
                setattr(parent, name, new)
    return out
