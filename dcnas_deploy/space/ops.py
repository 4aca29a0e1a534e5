"""`Op`: one operation instance of the space (kind + shapes), with exact params and MACs.

The same descriptor keys the latency LUT, so params, MACs and latency share one enumeration.
MACs count multiply-accumulates of convolutions only (element-wise ops, pooling and the
sigmoid gates are not MACs).
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Op:
    """One op instance. h×w is the op's input resolution; c_in/c_out are channels."""

    kind: str
    """lr_up, stem, mbconv, down, up, fuse_sum, fuse_concat_pw, fuse_attention, add or head."""
    c_in: int
    c_out: int
    h: int
    w: int
    k: int = 0
    e: int = 0
    s: int = 0

    @property
    def key(self) -> str:
        """Readable, unique LUT key, e.g. 'mbconv k5e4 c16 128x128'."""
        res = f"{self.h}x{self.w}"
        if self.kind == "mbconv":
            return f"mbconv k{self.k}e{self.e} c{self.c_in} {res}"
        if self.kind == "lr_up":
            return f"lr_up x{self.s} c{self.c_in} {res}"
        if self.kind in ("stem", "down", "up", "head"):
            return f"{self.kind} c{self.c_in}>{self.c_out} {res}"
        return f"{self.kind} c{self.c_in} {res}"

    @property
    def hidden(self) -> int:
        """Expanded width of a mobile block."""
        return self.e * self.c_in

    @property
    def se_hidden(self) -> int:
        """Squeeze-excitation bottleneck width of a mobile block."""
        return max(1, self.hidden // 4)

    @property
    def params(self) -> int:
        """Exact trainable parameter count."""
        c, co = self.c_in, self.c_out
        if self.kind == "mbconv":
            h, r, k = self.hidden, self.se_hidden, self.k
            return (c * h + h) + (h * k * k + h) + (h * r + r) + (r * h + h) + (h * c + c)
        if self.kind in ("stem", "head"):
            return 9 * c * co + co
        if self.kind == "down":
            return 4 * c * co + co
        if self.kind == "up":
            return c * 4 * co + 4 * co
        if self.kind == "fuse_concat_pw":
            return 2 * c * c + c
        if self.kind == "fuse_attention":
            return (2 * c * c + c) + (c * 2 * c + 2 * c)
        return 0  # lr_up (fixed weights), fuse_sum, add

    @property
    def macs(self) -> int:
        """Multiply-accumulates of the op's convolutions for one image."""
        p = self.h * self.w
        c, co = self.c_in, self.c_out
        if self.kind == "mbconv":
            h, r, k = self.hidden, self.se_hidden, self.k
            return p * (c * h + h * k * k + h * c) + 2 * h * r
        if self.kind in ("stem", "head"):
            return p * 9 * c * co
        if self.kind == "down":
            return (p // 4) * 4 * c * co
        if self.kind == "up":
            return p * c * 4 * co
        if self.kind == "fuse_concat_pw":
            return p * 2 * c * c
        if self.kind == "fuse_attention":
            return p * 4 * c * c
        if self.kind == "lr_up":
            return 2 * p * c * self.s * self.s * 25  # value conv + normaliser conv, 5x5 taps per phase
        return 0
