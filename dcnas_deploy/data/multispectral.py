"""Procedural multispectral + panchromatic scenes: nadir views of farmland, roads, buildings, water and trees.

The embedded data of the pan-sharpening task (``pansharpening-synthetic``), deterministic by seed.

Layout (top-down, H×W): fields are Voronoi cells with wobbly borders (crops of varied vigour, grass, bare
and ploughed soil, dry stubble) with row stripes and soft patches; 0–2 water bodies (smooth blobs); 1–3
straight asphalt roads; clusters of buildings (concrete, red-tile or metal roofs) and scattered trees, both
casting shadows away from the sun (offset by height). Shadows remove the direct sunlight and keep the
bluish sky light.

Spectra: every material has a reflectance at the eight WorldView-2 band centres (coastal 425, blue 480,
green 545, yellow 605, red 660, red-edge 725, NIR1 835, NIR2 950 nm), shaped like typical library
spectra: vegetation low in the visible with a green bump and the red-edge rise to a high NIR plateau,
water dark and falling to almost nothing in the NIR, soil rising slowly with wavelength, red tiles bright
from the yellow band on, asphalt dark and flat. Within-material texture multiplies the reflectance
(per-pixel, slightly band-dependent). The 4-band products (B, G, R, NIR) are the blue, green, red and
NIR1 components.

Sensor: radiance = reflectance × (direct·sunlit + diffuse), plus an additive haze (path radiance, larger at
short wavelengths); digital numbers DN = max_dn·radiance/0.6 with per-scene gain jitter, Gaussian noise,
rounded and clipped to the sensor's bit depth: 11-bit (0..2047) for 'worldview', 10-bit (0..1023) for
'gaofen2'. The PAN is synthesised from all eight spectral components with weights `PAN_WEIGHTS`: each
component's weight is the overlap (nm) of its WorldView-2 band passband with the PAN passband (WorldView-2
PAN 450–800 nm; Gaofen-2 PAN 450–900 nm), normalised to sum to 1 — a flat (rectangular) approximation of
the relative spectral responses, not the sensors' measured RSR curves. For 4-band products the PAN is
therefore not an exact combination of the delivered bands (it also sees yellow and red-edge light), as in
real imagery. The PAN has its own noise.

The Sample holds the full-resolution pair: target = the MS image at the PAN's resolution (H×W×C DN, the
reference) and guide = the PAN scaled to [0, 1] by the sensor maximum (H×W×1). The pan-sharpening LR
input is made by data.wald (MTF blur + decimation).
"""
from __future__ import annotations

import math
from typing import Any, Dict, NamedTuple, Optional, Tuple, Union

import numpy as np

from dcnas_deploy.data.protocols import get_protocol
from dcnas_deploy.data.registry import Dataset, register_dataset, reject_unknown
from dcnas_deploy.data.sample import Sample
from dcnas_deploy.data.synthetic import ProceduralDataset, parse_options
from dcnas_deploy.errors import ConfigError

F32 = np.float32
COMPONENTS = ("coastal", "blue", "green", "yellow", "red", "red-edge", "nir1", "nir2")
"""The eight spectral components every scene is rendered in (WorldView-2 MS bands)."""
BAND_SETS = {8: (0, 1, 2, 3, 4, 5, 6, 7), 4: (1, 2, 4, 6)}
"""Band count → the components delivered, in order (4 bands: blue, green, red, NIR)."""
BAND_NAMES = {n: tuple(COMPONENTS[i] for i in idx) for n, idx in BAND_SETS.items()}
SENSOR_BITS = {"worldview": 11, "gaofen2": 10}
SENSOR_BANDS = {"worldview": (4, 8), "gaofen2": (4,)}
PAN_WEIGHTS = {
    "worldview": (0.0, 60.0, 70.0, 40.0, 60.0, 40.0, 30.0, 0.0),
    "gaofen2": (0.0, 60.0, 70.0, 40.0, 60.0, 40.0, 125.0, 40.0),
}
"""PAN weights per component (nm of overlap with the PAN passband; normalised to sum 1 when used).

WorldView-2 bands: coastal 400–450, blue 450–510, green 510–580, yellow 585–625, red 630–690, red-edge
705–745, NIR1 770–895, NIR2 860–1040 nm. PAN passbands: WorldView-2 450–800 nm, Gaofen-2 450–900 nm.
"""
MATERIALS: Dict[str, Tuple[float, ...]] = {
    "crop": (0.035, 0.045, 0.11, 0.085, 0.05, 0.26, 0.48, 0.47),
    "grass": (0.04, 0.05, 0.10, 0.09, 0.07, 0.22, 0.38, 0.37),
    "tree": (0.025, 0.03, 0.07, 0.05, 0.03, 0.17, 0.36, 0.35),
    "soil": (0.07, 0.09, 0.13, 0.17, 0.20, 0.23, 0.27, 0.29),
    "stubble": (0.10, 0.12, 0.17, 0.21, 0.24, 0.27, 0.30, 0.31),
    "water": (0.075, 0.07, 0.06, 0.04, 0.03, 0.015, 0.01, 0.005),
    "asphalt": (0.06, 0.065, 0.075, 0.08, 0.085, 0.095, 0.11, 0.12),
    "concrete": (0.24, 0.27, 0.30, 0.31, 0.32, 0.33, 0.34, 0.34),
    "tile": (0.06, 0.07, 0.09, 0.17, 0.28, 0.32, 0.34, 0.35),
    "metal": (0.20, 0.22, 0.22, 0.21, 0.20, 0.20, 0.19, 0.18),
}
"""Reflectance (0–1) of each material at the eight component centres (typical library-spectrum shapes)."""
MATERIAL_IDS = {name: i for i, name in enumerate(MATERIALS)}
VEGETATION = ("crop", "grass", "tree")
DIFFUSE = np.array([0.35, 0.30, 0.22, 0.18, 0.15, 0.12, 0.10, 0.08], dtype=F32)
"""Sky-light fraction per component (what a shadow keeps: bluish)."""
HAZE = np.array([0.06, 0.05, 0.035, 0.03, 0.02, 0.015, 0.01, 0.008], dtype=F32)
"""Path radiance added per component (reflectance units)."""
FULL_SCALE = 0.6
"""Radiance (reflectance units) mapped to the sensor's maximum DN before gain jitter."""


class MultispectralScene(NamedTuple):
    """One rendered scene: MS and PAN digital numbers and what they were made from."""

    ms: np.ndarray
    """H×W×C float32 integer DN in [0, max_dn] (the reference at the PAN's resolution)."""
    pan: np.ndarray
    """H×W float32 integer DN in [0, max_dn]."""
    material: np.ndarray
    """H×W int16 material ids (MATERIAL_IDS)."""
    sunlit: np.ndarray
    """H×W bool: False in cast shadows."""
    max_dn: int
    bands: Tuple[str, ...]
    """Component names of the MS bands, in order."""


def _noise(rng: np.random.Generator, h: int, w: int, sigma: float) -> np.ndarray:
    """Smooth zero-mean unit-std noise with correlation length `sigma` pixels."""
    from scipy.ndimage import gaussian_filter

    n = gaussian_filter(rng.standard_normal((h, w)), max(sigma, 0.5), mode="wrap")
    return ((n - n.mean()) / max(float(n.std()), 1e-9)).astype(F32)


def _fields(rng: np.random.Generator, h: int, w: int, px: float) -> Tuple[np.ndarray, np.ndarray]:
    """Voronoi field layout: material ids and a per-pixel texture factor around 1."""
    k = int(rng.integers(5, 12)) + int(h * w / (256 * 256) * 4)
    seeds = rng.uniform(0, 1, (k, 2)) * (h, w)
    yy, xx = np.mgrid[0:h, 0:w].astype(F32)
    wob = 6.0 * px
    yj = yy + wob * _noise(rng, h, w, 10 * px)
    xj = xx + wob * _noise(rng, h, w, 10 * px)
    d = (yj[..., None] - seeds[:, 0]) ** 2 + (xj[..., None] - seeds[:, 1]) ** 2
    cell = np.argmin(d, axis=-1)
    kinds = ("crop", "crop", "grass", "soil", "stubble", "soil")
    mats = np.array([MATERIAL_IDS[kinds[int(rng.integers(len(kinds)))]] for _ in range(k)], dtype=np.int16)
    material = mats[cell]
    tex = np.ones((h, w), dtype=F32)
    for c in range(k):
        m = cell == c
        if not m.any():
            continue
        vigour = F32(rng.uniform(0.8, 1.15))
        angle = rng.uniform(0, math.pi)
        period = rng.uniform(3.0, 8.0) * px
        rows = np.sin((xx * math.cos(angle) + yy * math.sin(angle)) * (2 * math.pi / period))
        depth = F32(rng.uniform(0.0, 0.12))
        tex[m] = vigour * (1 + depth * rows[m])
    tex *= 1 + F32(0.08) * _noise(rng, h, w, 6 * px)
    return material, tex


def _blob(rng: np.random.Generator, h: int, w: int, px: float, radius: float) -> np.ndarray:
    """A smooth irregular blob mask around a random centre."""
    cy, cx = rng.uniform(0.1, 0.9) * h, rng.uniform(0.1, 0.9) * w
    yy, xx = np.mgrid[0:h, 0:w].astype(F32)
    r = np.sqrt((yy - cy) ** 2 + (xx - cx) ** 2) / radius
    return (r + F32(0.25) * _noise(rng, h, w, 8 * px)) < 1.0


def _shift(mask: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """`mask` moved by (dy, dx) pixels, zero-filled."""
    out = np.zeros_like(mask)
    h, w = mask.shape
    ys, yd = (slice(0, h - dy), slice(dy, h)) if dy >= 0 else (slice(-dy, h), slice(0, h + dy))
    xs, xd = (slice(0, w - dx), slice(dx, w)) if dx >= 0 else (slice(-dx, w), slice(0, w + dx))
    out[yd, xd] = mask[ys, xs]
    return out


def _cast(mask: np.ndarray, length: float, sun: Tuple[float, float]) -> np.ndarray:
    """Shadow of objects `mask` of height `length` pixels cast away from the sun direction (unit dy, dx)."""
    out = np.zeros_like(mask)
    for step in range(1, max(1, int(round(length))) + 1):
        out |= _shift(mask, int(round(-sun[0] * step)), int(round(-sun[1] * step)))
    return out & ~mask


def _layout(rng: np.random.Generator, h: int, w: int) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(material ids, texture factor, sunlit) of one nadir scene."""
    px = max(h, w) / 256.0
    material, tex = _fields(rng, h, w, px)
    yy, xx = np.mgrid[0:h, 0:w].astype(F32)
    for _ in range(int(rng.integers(0, 3))):
        water = _blob(rng, h, w, px, rng.uniform(0.08, 0.22) * min(h, w))
        material[water] = MATERIAL_IDS["water"]
        tex[water] = 1 + F32(0.04) * _noise(rng, h, w, 4 * px)[water]
    for _ in range(int(rng.integers(1, 4))):
        angle = rng.uniform(0, math.pi)
        cy, cx = rng.uniform(0.2, 0.8) * h, rng.uniform(0.2, 0.8) * w
        dist = np.abs((yy - cy) * math.cos(angle) - (xx - cx) * math.sin(angle))
        road = dist < rng.uniform(1.5, 3.5) * px
        material[road] = MATERIAL_IDS["asphalt"]
        tex[road] = 1 + F32(0.05) * _noise(rng, h, w, 1.0)[road]
    az = rng.uniform(0, 2 * math.pi)
    sun = (math.sin(az), math.cos(az))
    tall = np.zeros((h, w), dtype=bool)
    shadow = np.zeros((h, w), dtype=bool)
    roofs = ("concrete", "tile", "metal")
    for _ in range(int(rng.integers(1, 5))):  # building clusters
        cy, cx = rng.uniform(0.1, 0.9) * h, rng.uniform(0.1, 0.9) * w
        for _ in range(int(rng.integers(2, 7))):
            by, bx = cy + rng.normal(0, 20 * px), cx + rng.normal(0, 20 * px)
            hh, hw = rng.uniform(3, 12) * px, rng.uniform(3, 12) * px
            bld = (np.abs(yy - by) < hh) & (np.abs(xx - bx) < hw)
            if not bld.any():
                continue
            shadow |= _cast(bld, rng.uniform(3, 10) * px, sun)
            material[bld] = MATERIAL_IDS[roofs[int(rng.integers(len(roofs)))]]
            tex[bld] = F32(rng.uniform(0.85, 1.15)) * (1 + F32(0.03) * _noise(rng, h, w, 1.0)[bld])
            tall |= bld
    for _ in range(int(rng.integers(10, 40) * px * px)):  # trees
        ty, tx, r = rng.uniform(0, h), rng.uniform(0, w), rng.uniform(1.5, 5.0) * px
        tree = ((yy - ty) ** 2 + (xx - tx) ** 2) < r * r
        if not tree.any():
            continue
        shadow |= _cast(tree, rng.uniform(1.0, 2.0) * r, sun)
        material[tree] = MATERIAL_IDS["tree"]
        dome = np.sqrt(np.clip(1 - ((yy[tree] - ty) ** 2 + (xx[tree] - tx) ** 2) / (r * r), 0, 1))
        tex[tree] = F32(rng.uniform(0.85, 1.15)) * (F32(0.75) + F32(0.3) * dome)
        tall |= tree
    return material, tex, ~(shadow & ~tall)


def _check_sensor(sensor: str, bands: int) -> Tuple[str, int]:
    sensor = str(sensor).lower()
    if sensor not in SENSOR_BITS:
        raise ConfigError(f"unknown pansharpening sensor {sensor!r}; known: {', '.join(sorted(SENSOR_BITS))}")
    if isinstance(bands, bool) or int(bands) != bands or int(bands) not in SENSOR_BANDS[sensor]:
        raise ConfigError(f"sensor {sensor!r} delivers {' or '.join(map(str, SENSOR_BANDS[sensor]))} MS bands, "
                          f"not {bands!r}")
    return sensor, int(bands)


def pan_weights(sensor: str) -> np.ndarray:
    """The PAN weights over the eight components for `sensor`, normalised to sum 1."""
    w = np.asarray(PAN_WEIGHTS[_check_sensor(sensor, 4)[0]], dtype=F32)
    return w / w.sum()


def render_multispectral(seed: Union[int, np.random.SeedSequence], size: Union[int, Tuple[int, int]] = 256,
                         bands: int = 4, sensor: str = "worldview") -> MultispectralScene:
    """Render one nadir scene: MS (H×W×bands) and PAN (H×W) digital numbers of `sensor`."""
    sensor, bands = _check_sensor(sensor, bands)
    h, w = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
    if h < 8 or w < 8:
        raise ConfigError(f"pansharpening scene size must be at least 8×8, got {h}×{w}")
    rng = np.random.default_rng(seed)
    material, tex, sunlit = _layout(rng, h, w)
    refl = np.asarray(list(MATERIALS.values()), dtype=F32)[material]  # H×W×8
    tilt = F32(0.04) * _noise(rng, h, w, 3.0)  # texture is slightly band-dependent (brighter→bluer or redder)
    ramp = np.linspace(-1, 1, len(COMPONENTS), dtype=F32)
    refl = refl * tex[..., None] * (1 + tilt[..., None] * ramp)
    illum = np.where(sunlit[..., None], F32(1.0), DIFFUSE)
    radiance = np.clip(refl, 0, 1) * illum + HAZE
    max_dn = 2 ** SENSOR_BITS[sensor] - 1
    gain = F32(max_dn / FULL_SCALE * rng.uniform(0.85, 1.1))
    sigma = F32(max_dn * rng.uniform(0.001, 0.003))
    full = radiance * gain
    ms = full[..., list(BAND_SETS[bands])] + rng.standard_normal((h, w, bands)).astype(F32) * sigma
    pan = full @ pan_weights(sensor) + rng.standard_normal((h, w)).astype(F32) * sigma * F32(0.5)
    ms = np.clip(np.rint(ms), 0, max_dn).astype(F32)
    pan = np.clip(np.rint(pan), 0, max_dn).astype(F32)
    return MultispectralScene(ms, pan, material.astype(np.int16), sunlit, max_dn, BAND_NAMES[bands])


class PansharpeningSyntheticDataset(ProceduralDataset):
    """`n` procedural MS + PAN scenes of `size` (task 'pansharpening'; full-resolution pairs with a reference)."""

    name = "pansharpening-synthetic"
    task = "pansharpening"
    full_resolution = False
    """False: every sample's target is a reference MS image (see pansharpen_files for data without one)."""

    def __init__(self, split: str = "test", n: Optional[int] = None, size: Union[int, Tuple[int, int]] = 256,
                 seed: int = 0, bands: int = 4, sensor: str = "worldview"):
        super().__init__(split, n, size, seed)
        self.sensor, self.bands = _check_sensor(sensor, bands)
        self.max_dn = 2 ** SENSOR_BITS[self.sensor] - 1
        self.units = f"DN ({SENSOR_BITS[self.sensor]}-bit)"
        self.protocol = get_protocol("pansharpening")

    def load(self, index: int) -> Sample:
        sc = render_multispectral(self.seed_of(index), self.size, self.bands, self.sensor)
        guide = (sc.pan / F32(sc.max_dn))[..., None]
        return Sample(f"pansharpening_{self.split}_{index:05d}", guide, sc.ms, None, self.units, zero_is_hole=False,
                      degradation=f"mtf:{self.sensor}")


_KEYS = ("n", "size", "seed", "bands")
_USAGE = "pansharpening-synthetic:n=24,size=256,bands=4,sensor=worldview,seed=0"


def _parse(text: Optional[str]) -> Dict[str, Any]:
    """'n=24,size=256,bands=8,sensor=worldview,seed=0' → keyword arguments."""
    if not text:
        return {}
    out: Dict[str, Any] = {}
    rest = []
    for part in text.split(","):
        key, sep, val = part.partition("=")
        if key.strip() == "sensor" and sep:
            out["sensor"] = val.strip().lower()
        else:
            rest.append(part)
    try:
        out.update(parse_options(",".join(rest), "pansharpening-synthetic", _KEYS))
    except ConfigError as exc:
        raise ConfigError(f"{exc} (options: n, size, seed, bands=4|8, sensor=worldview|gaofen2; e.g. {_USAGE})") \
            from None
    return out


def _check_options(text: Optional[str]) -> None:
    """Validate the spec's options without rendering anything."""
    PansharpeningSyntheticDataset("all", **_parse(text))


@register_dataset("pansharpening-synthetic",
                  "pansharpening-synthetic[:n=24,size=256,bands=4,sensor=worldview,seed=0] (procedural nadir "
                  "MS + PAN scenes; 4 or 8 bands; 11-bit worldview or 10-bit gaofen2 DN)",
                  check=_check_options, task="pansharpening")
def open_pansharpening_synthetic(path: Optional[str], split: str = "test", **kw) -> Dataset:
    """Procedural MS + PAN scenes; options from the spec text and/or keywords (n, size, seed, bands, sensor)."""
    opts = _parse(path)
    reject_unknown("pansharpening-synthetic", kw, (*_KEYS, "sensor"))
    opts.update(kw)
    return PansharpeningSyntheticDataset(split, **opts)
