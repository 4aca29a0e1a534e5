"""Dead-leaves RGB-D: scale-invariant occlusion scenes, a training source that transfers to real depth.

A scene is a slanted background plane covered, far to near, by opaque "leaves" (discs, ellipses, rotated
rectangles) whose sizes follow the dead-leaves power law (density ∝ r⁻³ between r_min and r_max), so edges
appear at every scale as in natural images. Each leaf is a gently slanted or curved surface (smooth depth
with no edge inside it, the areas where a texture-copying net spreads error), and every leaf in front of
another is nearer, so depth jumps sit exactly on leaf boundaries.

The colour of a leaf is its own shade times a texture chosen per leaf:

- plain (a depth edge with a colour edge: the easy case);
- stripes / checks / blotches (colour edges that are *not* depth edges: the texture-copy trap), with
  probability ``texture``;
- the colour of the leaf behind it (a depth edge without a colour edge), with probability ``camouflage``.

Depth is in metres (1–9 m), like the procedural rooms, so the two mix under one protocol (`metres`, cm).
"""
from __future__ import annotations

import math
from typing import Any, Dict, Optional, Tuple, Union

import numpy as np

from dcnas_deploy.data.protocols import get_protocol
from dcnas_deploy.data.registry import Dataset, register_dataset
from dcnas_deploy.data.sample import Sample
from dcnas_deploy.data.synthetic import ProceduralDataset, parse_options
from dcnas_deploy.errors import ConfigError

F32 = np.float32
OPTION_KEYS = ("n", "size", "seed", "texture", "camouflage")
DEFAULT_TEXTURE = 0.5
DEFAULT_CAMOUFLAGE = 0.15


def _texture(rng: np.random.Generator, yy: np.ndarray, xx: np.ndarray, scale: float) -> np.ndarray:
    """A multiplicative albedo pattern (stripes, checks or blotches) of period ~scale pixels, values in (0, 1.3]."""
    kind = int(rng.integers(3))
    period = max(2.0, scale * rng.uniform(0.1, 0.6))
    ang = rng.uniform(0, math.pi)
    u = (xx * math.cos(ang) + yy * math.sin(ang)) / period
    contrast = rng.uniform(0.3, 0.8)
    if kind == 0:
        pattern = (np.floor(u) % 2).astype(F32)
    elif kind == 1:
        v = (-xx * math.sin(ang) + yy * math.cos(ang)) / period
        pattern = ((np.floor(u) + np.floor(v)) % 2).astype(F32)
    else:
        pattern = (np.sin(u * 2.1 + np.sin(yy / period * 1.7) * 2.0) > rng.uniform(-0.5, 0.5)).astype(F32)
    return (1.0 - contrast * pattern).astype(F32)


def _leaf_mask(rng: np.random.Generator, yy: np.ndarray, xx: np.ndarray, cy: float, cx: float,
               r: float) -> np.ndarray:
    """Pixels of one leaf of radius ~r at (cy, cx): a disc, an ellipse or a rotated rectangle."""
    kind = int(rng.integers(3))
    ang = rng.uniform(0, math.pi)
    dy, dx = yy - cy, xx - cx
    u = dx * math.cos(ang) + dy * math.sin(ang)
    v = -dx * math.sin(ang) + dy * math.cos(ang)
    if kind == 0:
        return u * u + v * v < r * r
    aspect = rng.uniform(0.3, 1.0)
    if kind == 1:
        return (u / r) ** 2 + (v / (r * aspect)) ** 2 < 1
    return (np.abs(u) < r) & (np.abs(v) < r * aspect)


def render_deadleaves(seed: np.random.SeedSequence, size: Union[int, Tuple[int, int]] = 256,
                      texture: float = DEFAULT_TEXTURE, camouflage: float = DEFAULT_CAMOUFLAGE
                      ) -> Tuple[np.ndarray, np.ndarray]:
    """(guide H×W×3 in [0,1], depth H×W in metres) of one dead-leaves scene."""
    rng = np.random.default_rng(seed)
    h, w = (size, size) if isinstance(size, int) else size
    yy, xx = np.mgrid[0:h, 0:w].astype(F32)
    yn, xn = (yy / h - 0.5), (xx / w - 0.5)
    dim = float(max(h, w))
    far = rng.uniform(6.0, 9.0)
    depth = (far + rng.uniform(-1.5, 1.5) * xn + rng.uniform(-1.5, 1.5) * yn).astype(F32)
    colour = np.empty((h, w, 3), dtype=F32)
    colour[:] = rng.uniform(0.15, 0.9, 3).astype(F32)
    if rng.random() < texture:
        colour *= _texture(rng, yy, xx, dim)[..., None]
    n_leaves = int(rng.integers(30, 90))
    r_min, r_max = dim * 0.04, dim * 0.5
    # r ~ r^-3 on [r_min, r_max] by inverse CDF, then sorted far (first painted) to near
    q = rng.random(n_leaves)
    radii = 1.0 / np.sqrt(1.0 / r_min ** 2 - q * (1.0 / r_min ** 2 - 1.0 / r_max ** 2))
    depths = np.sort(rng.uniform(1.0, far - 0.3, n_leaves))[::-1]
    for r, z in zip(radii, depths):
        cy, cx = rng.uniform(-0.1, 1.1) * h, rng.uniform(-0.1, 1.1) * w
        win = (slice(max(0, int(cy - r) - 1), min(h, int(cy + r) + 2)),
               slice(max(0, int(cx - r) - 1), min(w, int(cx + r) + 2)))
        wy, wx = yy[win], xx[win]
        if wy.size == 0:
            continue
        mask = _leaf_mask(rng, wy, wx, cy, cx, float(r))
        if not mask.any():
            continue
        # a smooth surface: slant plus an optional bump, kept in front of what is behind it
        slant = rng.uniform(-0.6, 0.6, 2) * (r / dim)
        bump = rng.uniform(-0.3, 0.3) * (r / dim) if rng.random() < 0.5 else 0.0
        ry, rx = (wy[mask] - cy) / r, (wx[mask] - cx) / r
        surface = z + slant[0] * ry + slant[1] * rx + bump * (1.0 - np.clip(ry * ry + rx * rx, 0, 1))
        dwin, cwin = depth[win], colour[win]
        dwin[mask] = np.minimum(surface.astype(F32), dwin[mask] - 0.05)
        if rng.random() < camouflage:
            continue  # keep the colour behind: a depth edge with no colour edge
        leaf = rng.uniform(0.05, 0.95, 3).astype(F32)
        # Lambertian-like shading from the slant, so colour also varies smoothly where depth does
        shade = 1.0 - 0.25 * np.clip(slant[0] * ry + slant[1] * rx, -1, 1) * dim / max(r, 1.0)
        layer = leaf[None, :] * np.clip(shade, 0.5, 1.3)[:, None]
        if rng.random() < texture:
            layer = layer * _texture(rng, wy[mask], wx[mask], float(r))[:, None]
        cwin[mask] = layer
    light = 0.8 + 0.4 * rng.random() * (1.0 - np.hypot(yn - rng.uniform(-0.5, 0.5), xn - rng.uniform(-0.5, 0.5)))
    guide = colour * light[..., None].astype(F32) + rng.standard_normal((h, w, 3), dtype=F32) * F32(0.008)
    return np.clip(guide, 0, 1).astype(F32), np.clip(depth, 0.5, None).astype(F32)


class DeadLeavesDataset(ProceduralDataset):
    """`n` dead-leaves RGB-D scenes of `size`; scene i of a split is seeded by (seed, split, i)."""

    name = "deadleaves"

    def __init__(self, split: str = "test", n: Optional[int] = None, size: Union[int, Tuple[int, int]] = 256,
                 seed: int = 0, texture: float = DEFAULT_TEXTURE, camouflage: float = DEFAULT_CAMOUFLAGE):
        super().__init__(split, n, size, seed)
        for key, val in (("texture", texture), ("camouflage", camouflage)):
            if not 0.0 <= float(val) <= 1.0:
                raise ConfigError(f"deadleaves option {key} is a probability in [0, 1], got {val}")
        self.texture, self.camouflage = float(texture), float(camouflage)
        self.protocol = get_protocol("metres")

    def load(self, index: int) -> Sample:
        guide, depth = render_deadleaves(self.seed_of(index), self.size, self.texture, self.camouflage)
        return Sample(f"deadleaves_{self.split}_{index:05d}", guide, depth, None, "m")


def _options(text: Optional[str]) -> Dict[str, Any]:
    """Spec options: n, size, seed as synthetic's; texture and camouflage probabilities."""
    extra: Dict[str, Any] = {}
    rest = []
    for part in filter(None, (text or "").split(",")):
        key, _, val = part.partition("=")
        key = key.strip()
        if key in ("texture", "camouflage"):
            try:
                extra[key] = float(val)
            except ValueError:
                raise ConfigError(f"bad deadleaves option {part!r}: {key} is a probability, e.g. {key}=0.5") from None
        else:
            rest.append(part)
    return {**parse_options(",".join(rest), "deadleaves", ("n", "size", "seed")), **extra}


def _check(text: Optional[str]) -> None:
    DeadLeavesDataset("all", **_options(text))


@register_dataset("deadleaves", "deadleaves[:n=24,size=256,seed=0,texture=0.5,camouflage=0.15] "
                  "(dead-leaves occlusion scenes, metres; cm)", check=_check)
def open_deadleaves(path: Optional[str], split: str = "test", **kw) -> Dataset:
    """Dead-leaves RGB-D scenes; options from the spec text and/or keywords."""
    opts = _options(path)
    unknown = sorted(set(kw) - set(OPTION_KEYS))
    if unknown:
        raise ConfigError(f"dataset 'deadleaves' takes no option(s) {unknown}; it takes {', '.join(OPTION_KEYS)}")
    opts.update(kw)
    return DeadLeavesDataset(split, **opts)
