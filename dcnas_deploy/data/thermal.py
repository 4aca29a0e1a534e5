"""Procedural RGB-T rooms: 8-bit thermal images rendered from the geometry of the RGB-D scenes.

The colour guide is the synthetic room (data.synthetic); the thermal target is rendered from the same
surfaces with simple but physical rules, so thermal edges only partly follow colour edges:

* every surface (room plane, object, window) is one material with a temperature, an emissivity, a
  conductivity class and a sun/heater absorptivity. Walls sit near the room's ambient temperature (an
  exterior wall colder), the ceiling a little warmer, the floor a little cooler; objects are people-like
  (30–34 °C), electronics and radiators (hot), furniture (ambient), bare metal (ambient, emissivity
  0.05–0.3) or cold drinks; a poster on the exterior wall may be a window (cold glass). Textures, posters
  and stripes are albedo only: they change no material, so they never show in thermal.
* some objects that are distinct in colour are thermally camouflaged: they take the temperature and
  emissivity of the back wall behind them (colour edge, no thermal edge).
* passive surfaces follow the air: a vertical gradient (warm near the ceiling) and warm plumes around hot
  objects; every surface is warmed by max(0, n·h) toward a heat source (sun/heater direction h), so
  curved objects get smooth gradients and box faces steps.
* heat diffusion: the temperature field is Gaussian-blurred within each conductivity class (stronger for
  metal than for wood or skin), then by the optics' PSF.
* radiance ∝ ε·T⁴ + (1 − ε)·T_refl⁴ (kelvin), the reflected temperature mixing the room with the cold
  sky seen through the window (or the exterior wall) in the mirror direction.
* camera: histogram automatic gain (1st–99.5th percentile → counts 8–247), radial vignetting, column and
  row fixed-pattern offsets, temporal Gaussian noise, rounded to 8-bit counts 0–255 (float32).

Deterministic by seed: the colour guide is exactly render_scene(seed)'s; the thermal draws come from a
child of the seed.
"""
from __future__ import annotations

from typing import Any, Dict, List, NamedTuple, Optional, Tuple, Union

import numpy as np

from dcnas_deploy.data.protocols import get_protocol
from dcnas_deploy.data.registry import Dataset, register_dataset, reject_unknown
from dcnas_deploy.data.sample import Sample
from dcnas_deploy.data.synthetic import PLANES, ProceduralDataset, SceneLayers, parse_options, render_layers

F32 = np.float32
KELVIN = 273.15
SIGMA_PX = (0.5, 1.2, 2.5)
"""Diffusion blur (pixels at 256 px) per conductivity class: 0 low (skin, wood), 1 medium, 2 high (metal)."""
OBJECT_KINDS = (("person", 0.15), ("electronics", 0.2), ("radiator", 0.1), ("furniture", 0.25), ("metal", 0.15),
                ("cold", 0.15))
CAMOUFLAGE_P = 0.2
PLANE_NORMALS = np.array([(0, -1, 0), (0, 1, 0), (0, 0, -1), (1, 0, 0), (-1, 0, 0)], dtype=F32)
"""Unit normals of the room planes in PLANES order (y grows downwards)."""
_THERMAL_STREAM = 0x7E


class ThermalScene(NamedTuple):
    """One rendered RGB-T scene: the guide, the 8-bit thermal image and what it was made from."""

    guide: np.ndarray
    """H×W×3 float32 in [0, 1] (identical to render_scene's guide for the seed)."""
    thermal: np.ndarray
    """H×W float32 8-bit counts in [0, 255]."""
    temperature: np.ndarray
    """H×W float32 surface temperature in °C after heat diffusion."""
    material: np.ndarray
    """H×W int16 material ids: the surface ids, plus len(materials) − 1 for window glass when present."""
    materials: List[Dict[str, Any]]
    """Per material id: kind, temperature (°C), emissivity, conductivity class, camouflage flag."""
    layers: SceneLayers


def _child_seed(seed: Union[int, np.random.SeedSequence]) -> np.random.SeedSequence:
    """A seed for the thermal draws, independent of the scene's stream and not mutating `seed`."""
    ss = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(int(seed))
    return np.random.SeedSequence(ss.entropy, spawn_key=(*ss.spawn_key, _THERMAL_STREAM))


def _materials(rng: np.random.Generator, sc: dict, ambient: float) -> Tuple[List[Dict[str, Any]], str]:
    """Materials of the room planes and objects (surface-id order) and the exterior wall's name."""
    exterior = ("back", "left", "right")[int(rng.integers(3))]
    mats: List[Dict[str, Any]] = []
    for name in PLANES:
        if name == "floor":
            t, eps = ambient - rng.uniform(0.0, 1.5), rng.uniform(0.92, 0.96)
        elif name == "ceiling":
            t, eps = ambient + rng.uniform(0.5, 2.0), rng.uniform(0.88, 0.94)
        elif name == exterior:
            t, eps = ambient - rng.uniform(1.0, 4.0), rng.uniform(0.88, 0.95)
        else:
            t, eps = ambient + rng.uniform(-0.8, 0.8), rng.uniform(0.88, 0.95)
        mats.append({"kind": name, "t": float(t), "eps": float(eps), "cls": 1, "absorb": 0.6, "passive": True,
                     "camouflage": False})
    kinds, weights = zip(*OBJECT_KINDS)
    p = np.asarray(weights) / sum(weights)
    for ob in sc["objects"]:
        kind = kinds[int(rng.choice(len(kinds), p=p))]
        camo = rng.random() < CAMOUFLAGE_P and not ob["camouflage"]  # colour-camouflaged ones stay thermal-visible
        if camo:  # takes, pixel by pixel, the material of the room surface behind it (see _behind)
            mats.append({"kind": "camouflage", "t": float("nan"), "eps": float("nan"), "cls": 1, "absorb": 0.0,
                         "passive": True, "camouflage": True})
            continue
        t, eps, cls, absorb, passive = {
            "person": (rng.uniform(30.0, 34.0), 0.98, 0, 0.2, False),
            "electronics": (ambient + rng.uniform(8.0, 30.0), rng.uniform(0.85, 0.95), 2, 0.2, False),
            "radiator": (rng.uniform(45.0, 70.0), 0.93, 2, 0.1, False),
            "furniture": (ambient + rng.uniform(-0.5, 0.5), rng.uniform(0.88, 0.95), 0, 0.7, True),
            "metal": (ambient + rng.uniform(-0.5, 0.5), rng.uniform(0.05, 0.3), 2, 0.3, True),
            "cold": (rng.uniform(4.0, 12.0), 0.95, 1, 0.3, False),
        }[kind]
        mats.append({"kind": kind, "t": float(t), "eps": float(eps), "cls": cls, "absorb": absorb,
                     "passive": passive, "camouflage": False})
    return mats, exterior


def _behind(points: np.ndarray, room: dict) -> Tuple[np.ndarray, np.ndarray]:
    """For rays through `points` (n×3), the room plane each would hit without objects and where."""
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.stack([np.where(points[:, 1] > 0, room["floor"] / points[:, 1], np.inf),
                      np.where(points[:, 1] < 0, room["ceiling"] / points[:, 1], np.inf),
                      np.where(points[:, 2] > 0, room["back"] / points[:, 2], np.inf),
                      np.where(points[:, 0] < 0, room["left"] / points[:, 0], np.inf),
                      np.where(points[:, 0] > 0, room["right"] / points[:, 0], np.inf)], 1)
    plane = np.argmin(t, 1)
    return plane, (points * t[np.arange(len(plane)), plane][:, None]).astype(F32)


def _window(rng: np.random.Generator, layers: SceneLayers, exterior: str) -> Optional[np.ndarray]:
    """Pixels of a window: the first poster on the exterior wall, half of the time (None when none)."""
    rects = layers.scene["walls"][exterior].get("rects", ())
    if not rects or rng.random() < 0.5:
        return None
    ra, rb, rw, rh, _ = rects[0]
    a, b = layers.uv[..., 0], layers.uv[..., 1]
    mask = (layers.ids == PLANES.index(exterior)) & (a >= ra) & (a <= ra + rw) & (b >= rb) & (b <= rb + rh)
    return mask if mask.any() else None


def _diffuse(temp: np.ndarray, cls_map: np.ndarray, scale: float) -> np.ndarray:
    """Heat diffusion: normalised Gaussian blur within each conductivity class, then the optics' PSF."""
    from scipy.ndimage import gaussian_filter

    out = temp.copy()
    for c, sigma in enumerate(SIGMA_PX):
        m = cls_map == c
        if not m.any():
            continue
        mf = m.astype(F32)
        num = gaussian_filter(temp * mf, sigma * scale)
        den = gaussian_filter(mf, sigma * scale)
        out[m] = num[m] / np.maximum(den[m], F32(1e-6))
    return gaussian_filter(out, 0.6 * scale).astype(F32)


def _camera(rng: np.random.Generator, radiance: np.ndarray, ambient_k: float) -> np.ndarray:
    """Automatic gain to counts, vignetting, fixed-pattern offsets and temporal noise; 8-bit counts out."""
    h, w = radiance.shape
    lo, hi = np.percentile(radiance, [1.0, 99.5])
    min_span = (ambient_k + 3.0) ** 4 - (ambient_k - 3.0) ** 4  # a uniform scene must not amplify noise
    if hi - lo < min_span:
        mid = 0.5 * (hi + lo)
        lo, hi = mid - min_span / 2, mid + min_span / 2
    counts = 8.0 + 239.0 * (radiance - lo) / (hi - lo)
    yy, xx = np.mgrid[0:h, 0:w].astype(F32)
    r2 = ((yy - (h - 1) / 2) ** 2 + (xx - (w - 1) / 2) ** 2) / (((h - 1) / 2) ** 2 + ((w - 1) / 2) ** 2)
    counts = counts * (1.0 - rng.uniform(0.03, 0.12) * r2)
    counts += np.asarray(rng.normal(0.0, rng.uniform(0.3, 1.5), w))[None, :]  # column offsets (readout amplifiers)
    counts += np.asarray(rng.normal(0.0, rng.uniform(0.1, 0.6), h))[:, None]
    counts += rng.standard_normal((h, w)) * rng.uniform(0.5, 1.5)
    return np.clip(np.rint(counts), 0, 255).astype(F32)


def render_thermal(seed: Union[int, np.random.SeedSequence], size: Union[int, Tuple[int, int]] = 256) -> ThermalScene:
    """Render one RGB-T scene: the synthetic room's guide and its 8-bit thermal image."""
    layers = render_layers(seed, size)
    rng = np.random.default_rng(_child_seed(seed))
    sc, ids = layers.scene, layers.ids.astype(np.int64)
    h, w = ids.shape
    ambient = float(rng.uniform(18.0, 26.0))
    mats, exterior = _materials(rng, sc, ambient)
    window = _window(rng, layers, exterior)
    sky = float(rng.uniform(-30.0, -5.0))
    material = ids.copy()
    if window is not None:
        mats.append({"kind": "window", "t": ambient - float(rng.uniform(3.0, 8.0)), "eps": 0.84, "cls": 1,
                     "absorb": 0.0, "passive": False, "camouflage": False})
        material[window] = len(mats) - 1

    # camouflaged objects are rendered as the room surface behind them: no thermal edge at all
    camo = np.array([m["camouflage"] for m in mats], dtype=bool)[material]
    surface, pts, normals = material.copy(), layers.points.copy(), layers.normals.copy()
    if camo.any():
        plane, hit = _behind(pts[camo].astype(np.float64), sc["room"])
        surface[camo], pts[camo], normals[camo] = plane, hit, PLANE_NORMALS[plane]
    base = np.array([m["t"] for m in mats], dtype=F32)[surface]
    eps = np.array([m["eps"] for m in mats], dtype=F32)[surface]
    absorb = np.array([m["absorb"] for m in mats], dtype=F32)[surface]
    passive = np.array([m["passive"] for m in mats], dtype=bool)[surface]
    cls_map = np.array([m["cls"] for m in mats], dtype=np.int64)[surface]

    heat = np.array([rng.uniform(-0.8, 0.8), -rng.uniform(0.2, 1.0), rng.uniform(-0.8, 0.3)])
    heat /= np.linalg.norm(heat)
    strength, lapse = float(rng.uniform(1.0, 4.0)), float(rng.uniform(0.2, 0.8))
    temp = base + absorb * F32(strength) * np.clip(normals @ heat.astype(F32), 0, None)
    air = F32(lapse) * (F32(sc["room"]["floor"]) - pts[..., 1])  # y grows downwards
    plume = np.zeros((h, w), dtype=F32)
    for j, ob in enumerate(sc["objects"]):
        m = mats[len(PLANES) + j]
        if m["passive"] or m["t"] <= ambient + 2.0:
            continue
        d = pts - np.asarray(ob["c"], dtype=F32)
        above = np.where(d[..., 1] < 0, F32(0.5), F32(1.0))  # warm air rises: plumes reach further up
        sigma = 0.4 + ob["radius"]
        r2 = d[..., 0] ** 2 + d[..., 2] ** 2 + (d[..., 1] * above) ** 2
        plume += F32(0.15 * (m["t"] - ambient)) * np.exp(-r2 / (2 * sigma ** 2)).astype(F32)
    temp = temp + np.where(passive, air + plume, F32(0))
    temp = _diffuse(temp.astype(F32), cls_map, max(h, w) / 256.0)

    # mirror direction: toward the exterior wall it sees the cold sky through the window, or the cold wall
    view = pts / np.maximum(np.linalg.norm(pts, axis=-1, keepdims=True), F32(1e-6))
    mirror = view - 2 * np.sum(view * normals, -1, keepdims=True) * normals
    outward = {"back": (0.0, 0.0, 1.0), "left": (-1.0, 0.0, 0.0), "right": (1.0, 0.0, 0.0)}[exterior]
    toward = np.clip(mirror @ np.asarray(outward, dtype=F32), 0, 1)
    cold = sky if window is not None else mats[PLANES.index(exterior)]["t"]
    t_refl = ambient + toward * F32((cold - ambient) * (0.6 if window is not None else 0.3))
    tk, rk = temp + F32(KELVIN), t_refl + F32(KELVIN)
    radiance = (eps * tk ** 4 + (1 - eps) * rk ** 4).astype(np.float64)
    thermal = _camera(rng, radiance, ambient + KELVIN)
    return ThermalScene(layers.guide, thermal, temp.astype(F32), material.astype(np.int16), mats, layers)


class ThermalSyntheticDataset(ProceduralDataset):
    """`n` procedural RGB-T scenes of `size` (8-bit thermal counts, task 'thermal')."""

    name = "thermal-synthetic"
    task = "thermal"

    def __init__(self, split: str = "test", n: Optional[int] = None, size: Union[int, Tuple[int, int]] = 256,
                 seed: int = 0):
        super().__init__(split, n, size, seed)
        self.protocol = get_protocol("thermal")

    def load(self, index: int) -> Sample:
        scene = render_thermal(self.seed_of(index), self.size)
        return Sample(f"thermal_{self.split}_{index:05d}", scene.guide, scene.thermal, None, "0-255",
                      zero_is_hole=False)


_KEYS = ("n", "size", "seed")


def _check_options(text: Optional[str]) -> None:
    """Validate 'n=24,size=256,seed=0' without rendering anything."""
    ThermalSyntheticDataset("all", **parse_options(text, "thermal-synthetic", _KEYS))


@register_dataset("thermal-synthetic",
                  "thermal-synthetic[:n=24,size=256,seed=0] (procedural RGB-T rooms, 8-bit thermal counts; 0–255)",
                  check=_check_options, task="thermal")
def open_thermal_synthetic(path: Optional[str], split: str = "test", **kw) -> Dataset:
    """Procedural RGB-T scenes; options from the spec text and/or keywords (n, size, seed)."""
    opts = parse_options(path, "thermal-synthetic", _KEYS)
    reject_unknown("thermal-synthetic", kw, _KEYS)
    opts.update(kw)
    return ThermalSyntheticDataset(split, **opts)

