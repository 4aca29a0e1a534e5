"""Procedural RGB-D rooms: the embedded default data, deterministic by seed, nothing to download.

Each scene is ray-cast (vectorised numpy) through a pinhole camera with random pitch/yaw into a room
(floor, ceiling, back and side walls) holding 3–8 boxes, spheres and cylinders at varied depths, so
depth jumps at occlusion boundaries. The colour image is Lambertian shading of the same geometry
(one directional light + ambient) times albedo textures that put edges where depth has none — wall
posters, floor tiles, stripes on objects (the texture-copy trap) — and some objects share the colour
of what is behind them (depth edges without colour edges). Depth is z-depth in metres.

Optional sensor effects (``sensor=True``): Kinect-like axial noise σ(z) = 1.2 mm + 1.9 mm·(z − 0.4)²,
invalid bands (0) on one side of depth jumps (projector shadow) and random missing-depth blobs.
"""
from __future__ import annotations

import math
from typing import Any, Dict, NamedTuple, Optional, Tuple, Union

import numpy as np

from dcnas_deploy.data.protocols import get_protocol
from dcnas_deploy.data.registry import Dataset, check_split, register_dataset
from dcnas_deploy.data.sample import Sample
from dcnas_deploy.errors import ConfigError

SPLIT_IDS = {"train": 0, "val": 1, "test": 2, "all": 3}
DEFAULT_COUNTS = {"train": 1000, "val": 24, "test": 24, "all": 24}
F32 = np.float32


# --------------------------------------------------------------------------------------------
# geometry helpers (all operate on ray-direction arrays; t is camera z-depth because d_cam.z = 1)
# --------------------------------------------------------------------------------------------

def _rot(pitch: float, yaw: float) -> np.ndarray:
    """Camera-to-world rotation: pitch about x, then yaw about y."""
    cp, sp, cy, sy = math.cos(pitch), math.sin(pitch), math.cos(yaw), math.sin(yaw)
    rx = np.array([[1, 0, 0], [0, cp, -sp], [0, sp, cp]])
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    return ry @ rx


def _window(center_world, radius, rot, f, cx, cy, h, w) -> Optional[Tuple[slice, slice]]:
    """Screen rectangle that surely contains a bounding sphere, or None when it is off-screen."""
    c = rot.T @ np.asarray(center_world, dtype=np.float64)
    if c[2] + radius <= 0.05:
        return None
    if c[2] - radius <= 0.05:
        return slice(0, h), slice(0, w)
    zs = (c[2] - radius, c[2] + radius)
    us = [f * x / z + cx for x in (c[0] - radius, c[0] + radius) for z in zs]
    vs = [f * y / z + cy for y in (c[1] - radius, c[1] + radius) for z in zs]
    u0, u1 = max(0, int(math.floor(min(us))) - 1), min(w, int(math.ceil(max(us))) + 1)
    v0, v1 = max(0, int(math.floor(min(vs))) - 1), min(h, int(math.ceil(max(vs))) + 1)
    if u0 >= u1 or v0 >= v1:
        return None
    return slice(v0, v1), slice(u0, u1)


def _hit_sphere(dx, dy, dz, c, r):
    a = dx * dx + dy * dy + dz * dz
    b = dx * c[0] + dy * c[1] + dz * c[2]
    disc = b * b - a * (c[0] ** 2 + c[1] ** 2 + c[2] ** 2 - r * r)
    with np.errstate(invalid="ignore"):
        t = (b - np.sqrt(disc)) / a
    return np.where((disc > 0) & (t > 0), t, np.inf)


def _hit_box(dx, dy, dz, c, half, yaw):
    """Ray/box (rotated by yaw about y) slab test; rays start at the origin."""
    cs, sn = math.cos(yaw), math.sin(yaw)
    lx, lz = cs * dx - sn * dz, sn * dx + cs * dz  # directions in box frame
    ox, oz = -(cs * c[0] - sn * c[2]), -(sn * c[0] + cs * c[2])
    oy = -c[1]
    tnear = np.full(dx.shape, -np.inf, dtype=F32)
    tfar = np.full(dx.shape, np.inf, dtype=F32)
    with np.errstate(divide="ignore", invalid="ignore"):
        for d, o, hh in ((lx, ox, half[0]), (dy, oy, half[1]), (lz, oz, half[2])):
            inv = 1.0 / d
            t1, t2 = (-hh - o) * inv, (hh - o) * inv
            tnear = np.maximum(tnear, np.minimum(t1, t2))
            tfar = np.minimum(tfar, np.maximum(t1, t2))
    return np.where((tnear < tfar) & (tnear > 0), tnear, np.inf)


def _hit_cylinder(dx, dy, dz, c, r, y_top, y_bottom):
    """Vertical cylinder (axis ∥ y) with a top cap; y grows downwards."""
    a = dx * dx + dz * dz
    b = dx * c[0] + dz * c[2]
    disc = b * b - a * (c[0] ** 2 + c[2] ** 2 - r * r)
    with np.errstate(invalid="ignore", divide="ignore"):
        t = (b - np.sqrt(disc)) / a
        y = t * dy
        side = np.where((disc > 0) & (t > 0) & (y >= y_top) & (y <= y_bottom), t, np.inf)
        tc = y_top / dy
        cap = np.where((tc > 0) & ((tc * dx - c[0]) ** 2 + (tc * dz - c[2]) ** 2 <= r * r), tc, np.inf)
    return np.minimum(side, cap)


# --------------------------------------------------------------------------------------------
# scene description
# --------------------------------------------------------------------------------------------

def _colour(rng) -> np.ndarray:
    """A random albedo, mostly muted, sometimes saturated."""
    if rng.random() < 0.3:
        return rng.uniform(0.05, 0.95, 3).astype(F32)
    base = rng.uniform(0.25, 0.85)
    return np.clip(base + rng.normal(0, 0.08, 3), 0.05, 0.95).astype(F32)


def _texture(rng, allow_posters: bool = False) -> dict:
    kinds = ["plain", "stripes", "checker", "noise"] + (["posters", "posters"] if allow_posters else [])
    kind = kinds[rng.integers(len(kinds))]
    tex = {"kind": kind, "c1": _colour(rng), "c2": _colour(rng), "period": float(rng.uniform(0.12, 0.6)),
           "angle": float(rng.uniform(0, math.pi))}
    if kind == "posters":
        n = int(rng.integers(1, 5))
        tex["rects"] = [(float(rng.uniform(-2.5, 2.0)), float(rng.uniform(-2.0, 0.6)), float(rng.uniform(0.3, 1.4)),
                         float(rng.uniform(0.2, 1.0)), _colour(rng)) for _ in range(n)]
    return tex


def _scene(rng, h: int, w: int) -> dict:
    """Random room, camera, light and objects."""
    cam_h = float(rng.uniform(1.0, 1.6))
    room = {"floor": cam_h, "ceiling": cam_h - float(rng.uniform(2.4, 3.0)), "back": float(rng.uniform(3.5, 7.5)),
            "left": -float(rng.uniform(1.5, 3.5)), "right": float(rng.uniform(1.5, 3.5))}
    cam = {"f": w * float(rng.uniform(0.75, 1.05)), "cx": w / 2 + float(rng.normal(0, 2)),
           "cy": h / 2 + float(rng.normal(0, 2)), "pitch": float(rng.uniform(-0.1, 0.3)),
           "yaw": float(rng.uniform(-0.35, 0.35))}
    light = np.array([rng.uniform(-0.6, 0.6), -rng.uniform(0.5, 1.0), -rng.uniform(0.1, 0.8)])
    light /= np.linalg.norm(light)
    objects = []
    for _ in range(int(rng.integers(3, 9))):
        kind = ("box", "sphere", "cylinder")[int(rng.integers(3))]
        x = float(rng.uniform(room["left"] + 0.3, room["right"] - 0.3))
        z = 1.0 + (room["back"] - 1.3) * float(rng.random()) ** 1.5  # more objects near the camera
        obj = {"kind": kind, "tex": _texture(rng), "camouflage": rng.random() < 0.15}
        if kind == "box":
            half = np.array([rng.uniform(0.1, 0.5), rng.uniform(0.1, 0.6), rng.uniform(0.1, 0.5)])
            bottom = cam_h if rng.random() < 0.75 else cam_h - float(rng.uniform(0.3, 1.2))
            obj.update(c=np.array([x, bottom - half[1], z]), half=half, yaw=float(rng.uniform(0, math.pi)),
                       radius=float(np.linalg.norm(half)))
        elif kind == "sphere":
            r = float(rng.uniform(0.1, 0.45))
            y = cam_h - r if rng.random() < 0.7 else cam_h - r - float(rng.uniform(0.2, 1.2))
            obj.update(c=np.array([x, y, z]), r=r, radius=r)
        else:
            r, hgt = float(rng.uniform(0.08, 0.35)), float(rng.uniform(0.2, 1.4))
            obj.update(c=np.array([x, cam_h - hgt / 2, z]), r=r, y_top=cam_h - hgt, y_bottom=cam_h,
                       radius=math.hypot(r, hgt / 2))
        objects.append(obj)
    walls = {k: _texture(rng, allow_posters=k in ("back", "left", "right")) for k in room}
    return {"room": room, "cam": cam, "light": light, "objects": objects, "walls": walls}


# --------------------------------------------------------------------------------------------
# shading and textures
# --------------------------------------------------------------------------------------------

def _pattern(tex: dict, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Albedo (n×3) of texture `tex` at surface coordinates (a, b) in metres."""
    c1, c2 = tex["c1"], tex["c2"]
    kind = tex["kind"]
    if kind == "stripes":
        s = math.sin(tex["angle"]), math.cos(tex["angle"])
        m = (np.sin((a * s[0] + b * s[1]) * (2 * math.pi / tex["period"])) > 0)
    elif kind == "checker":
        m = ((np.floor(a / tex["period"]) + np.floor(b / tex["period"])) % 2) == 0
    elif kind == "noise":
        t = 0.5 + 0.5 * np.sin(a * 7.1 + np.sin(b * 5.3)) * np.cos(b * 6.7 + np.sin(a * 3.1))
        return (c1[None] * t[:, None] + c2[None] * (1 - t[:, None])).astype(F32)
    else:
        m = np.zeros(a.shape, dtype=bool)
    out = np.where(m[:, None], c2[None], c1[None]).astype(F32)
    for (ra, rb, rw, rh, rc) in tex.get("rects", ()):
        inside = (a >= ra) & (a <= ra + rw) & (b >= rb) & (b <= rb + rh)
        out[inside] = rc
    return out


def _value_noise(rng, h: int, w: int, cells: int = 6) -> np.ndarray:
    """Smooth multiplicative shading variation (bilinear value noise), H×W around 1."""
    grid = rng.uniform(0.85, 1.15, (cells + 1, cells + 1)).astype(F32)

    def weights(n: int) -> np.ndarray:  # n×(cells+1) linear-interpolation matrix
        pos = np.linspace(0, cells, n, dtype=F32)
        i0 = np.minimum(pos.astype(int), cells - 1)
        m = np.zeros((n, cells + 1), dtype=F32)
        m[np.arange(n), i0] = 1 - (pos - i0)
        m[np.arange(n), i0 + 1] = pos - i0
        return m

    return weights(h) @ grid @ weights(w).T


def _sensor_effects(rng, depth: np.ndarray) -> np.ndarray:
    """Kinect-like axial noise, projector-shadow bands beside depth jumps, and missing blobs (0 = hole)."""
    from scipy.ndimage import maximum_filter1d

    h, w = depth.shape
    out = depth + rng.standard_normal(depth.shape, dtype=F32) * (0.0012 + 0.0019 * (depth - 0.4) ** 2)
    jump = np.zeros_like(depth, dtype=bool)
    jump[:, 1:] = (depth[:, :-1] - depth[:, 1:]) > 0.08  # far→near going left to right: shadow on the left side
    band = int(rng.integers(2, 7))
    shadow = maximum_filter1d(jump.astype(np.uint8), size=band, axis=1, origin=(band - 1) // 2).astype(bool)
    out[shadow] = 0
    yy, xx = np.mgrid[0:h, 0:w].astype(F32)
    for _ in range(int(rng.integers(0, 4))):
        cy, cx = rng.uniform(0, h), rng.uniform(0, w)
        ry, rx = rng.uniform(2, h / 12 + 3), rng.uniform(2, w / 12 + 3)
        out[((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 < 1] = 0
    return out.astype(F32)


class SceneLayers(NamedTuple):
    """Every per-pixel layer of one rendered scene (the inputs other modalities are built from)."""

    guide: np.ndarray
    """H×W×3 float32 colour image in [0, 1] (shading, albedo, noise)."""
    depth: np.ndarray
    """H×W float32 z-depth in metres (0 = hole when rendered with sensor effects)."""
    ids: np.ndarray
    """H×W int16 surface ids: 0..4 = floor, ceiling, back, left, right wall; 5 + j = object j."""
    normals: np.ndarray
    """H×W×3 float32 world-space unit normals (y grows downwards)."""
    albedo: np.ndarray
    """H×W×3 float32 texture colour before shading."""
    uv: np.ndarray
    """H×W×2 float32 surface coordinates in metres that the textures were evaluated at."""
    points: np.ndarray
    """H×W×3 float32 world-space hit points (camera at the origin) of the noise-free geometry."""
    scene: dict
    """The scene description: room, cam, light, objects (with their textures), walls."""


PLANES = ("floor", "ceiling", "back", "left", "right")
"""Room surfaces in surface-id order (ids 0..4); object j has id len(PLANES) + j."""


def render_scene(seed: Union[int, np.random.SeedSequence], size: Union[int, Tuple[int, int]] = 256,
                 sensor: bool = False) -> Tuple[np.ndarray, np.ndarray]:
    """Render one scene: (guide H×W×3 float32 in [0,1], depth H×W float32 metres; 0 = hole if sensor)."""
    layers = render_layers(seed, size, sensor)
    return layers.guide, layers.depth


def render_layers(seed: Union[int, np.random.SeedSequence], size: Union[int, Tuple[int, int]] = 256,
                  sensor: bool = False) -> SceneLayers:
    """Render one scene with all its per-pixel layers (guide and depth equal render_scene's)."""
    h, w = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
    if h < 8 or w < 8:
        raise ConfigError(f"synthetic scene size must be at least 8×8, got {h}×{w}")
    rng = np.random.default_rng(seed)
    sc = _scene(rng, h, w)
    cam, room = sc["cam"], sc["room"]
    rot = _rot(cam["pitch"], cam["yaw"])
    u = ((np.arange(w, dtype=F32) + 0.5 - cam["cx"]) / cam["f"]).astype(F32)
    v = ((np.arange(h, dtype=F32) + 0.5 - cam["cy"]) / cam["f"]).astype(F32)
    r = rot.astype(F32)
    dx = r[0, 0] * u[None, :] + r[0, 1] * v[:, None] + r[0, 2]
    dy = r[1, 0] * u[None, :] + r[1, 1] * v[:, None] + r[1, 2]
    dz = r[2, 0] * u[None, :] + r[2, 1] * v[:, None] + r[2, 2]

    # room: every ray leaves the (convex) room through exactly one plane; ids 0..4 = floor, ceiling,
    # back, left, right
    planes = (("floor", dy, room["floor"]), ("ceiling", dy, room["ceiling"]), ("back", dz, room["back"]),
              ("left", dx, room["left"]), ("right", dx, room["right"]))
    with np.errstate(divide="ignore", invalid="ignore"):
        down, rightward = dy > 0, dx > 0
        t_y = np.where(down, F32(room["floor"]), F32(room["ceiling"])) / dy
        t_x = np.where(rightward, F32(room["right"]), F32(room["left"])) / dx
        t_z = np.where(dz > 0, F32(room["back"]) / dz, F32(np.inf))
    t_y[~np.isfinite(t_y)], t_x[~np.isfinite(t_x)] = np.inf, np.inf
    depth = np.minimum(np.minimum(t_y, t_x), t_z).astype(F32)
    ids = np.where(t_z == depth, 2, np.where(t_y == depth, np.where(down, 0, 1),
                                             np.where(rightward, 4, 3))).astype(np.int16)
    n_planes = len(planes)

    for j, ob in enumerate(sc["objects"]):
        win = _window(ob["c"], ob["radius"], rot, cam["f"], cam["cx"], cam["cy"], h, w)
        if win is None:
            continue
        wx, wy, wz = dx[win], dy[win], dz[win]
        if ob["kind"] == "box":
            t = _hit_box(wx, wy, wz, ob["c"], ob["half"], ob["yaw"])
        elif ob["kind"] == "sphere":
            t = _hit_sphere(wx, wy, wz, ob["c"], ob["r"])
        else:
            t = _hit_cylinder(wx, wy, wz, ob["c"], ob["r"], ob["y_top"], ob["y_bottom"])
        dwin, iwin = depth[win], ids[win]
        closer = t < dwin
        dwin[closer], iwin[closer] = t[closer], n_planes + j

    # per-surface normals and albedo on that surface's pixels only
    flat_ids = ids.ravel()
    px, py, pz = (dx * depth).ravel(), (dy * depth).ravel(), (dz * depth).ravel()
    normal = np.zeros((h * w, 3), dtype=F32)
    albedo = np.zeros((h * w, 3), dtype=F32)
    uv = np.zeros((h * w, 2), dtype=F32)
    plane_normals = {"floor": (0, -1, 0), "ceiling": (0, 1, 0), "back": (0, 0, -1), "left": (1, 0, 0),
                     "right": (-1, 0, 0)}
    side = pz - F32(room["back"] / 2)  # centre side-wall coordinates so posters land on the visible part
    plane_coords = {"floor": (px, pz), "ceiling": (px, pz), "back": (px, py), "left": (side, py), "right": (side, py)}
    order = np.argsort(flat_ids, kind="stable")
    bounds = np.searchsorted(flat_ids[order], np.arange(n_planes + len(sc["objects"]) + 1))
    for k in range(n_planes + len(sc["objects"])):
        idx = order[bounds[k]:bounds[k + 1]]
        if idx.size == 0:
            continue
        if k < n_planes:
            name = planes[k][0]
            normal[idx] = plane_normals[name]
            a, b = plane_coords[name]
            albedo[idx] = _pattern(sc["walls"][name], a[idx], b[idx])
            uv[idx, 0], uv[idx, 1] = a[idx], b[idx]
            continue
        ob = sc["objects"][k - n_planes]
        qx, qy, qz = px[idx] - ob["c"][0], py[idx] - ob["c"][1], pz[idx] - ob["c"][2]
        if ob["kind"] == "sphere":
            n = np.stack([qx, qy, qz], 1) / ob["r"]
            a, b = np.arctan2(qx, qz) * ob["r"], qy
        elif ob["kind"] == "cylinder":
            cap = np.abs(py[idx] - ob["y_top"]) < 1e-3
            n = np.stack([qx, np.zeros_like(qx), qz], 1) / ob["r"]
            n[cap] = (0, -1, 0)
            a, b = np.where(cap, qx, np.arctan2(qx, qz) * ob["r"]), np.where(cap, qz, qy)
        else:
            cs, sn = math.cos(ob["yaw"]), math.sin(ob["yaw"])
            lx, lz = cs * qx - sn * qz, sn * qx + cs * qz
            rel = np.stack([lx / ob["half"][0], qy / ob["half"][1], lz / ob["half"][2]], 1)
            axis = np.argmax(np.abs(rel), 1)
            sign = np.sign(rel[np.arange(idx.size), axis])
            nl = np.zeros((idx.size, 3), dtype=F32)
            nl[np.arange(idx.size), axis] = sign
            n = np.stack([cs * nl[:, 0] + sn * nl[:, 2], nl[:, 1], -sn * nl[:, 0] + cs * nl[:, 2]], 1)
            coords = np.stack([lx, qy, lz], 1)
            a = np.where(axis == 0, coords[:, 2], coords[:, 0])
            b = np.where(axis == 1, coords[:, 2], coords[:, 1])
        normal[idx] = n
        tex = sc["walls"]["back"] if ob["camouflage"] else ob["tex"]  # a depth edge without a colour edge
        albedo[idx] = _pattern(tex, a, b)
        uv[idx, 0], uv[idx, 1] = a, b

    lambert = np.clip(normal @ sc["light"].astype(F32), 0, None)
    ambient = F32(rng.uniform(0.25, 0.45))
    shade = (ambient + (1 - ambient) * lambert).reshape(h, w) * _value_noise(rng, h, w)
    guide = albedo.reshape(h, w, 3) * shade[..., None]
    guide += rng.standard_normal(guide.shape, dtype=F32) * F32(0.008)
    guide = np.clip(guide, 0, 1).astype(F32)
    clean = depth.astype(F32)
    depth = _sensor_effects(rng, clean) if sensor else clean
    points = np.stack([px, py, pz], 1).reshape(h, w, 3).astype(F32)
    return SceneLayers(guide, depth, ids, normal.reshape(h, w, 3), albedo.reshape(h, w, 3), uv.reshape(h, w, 2),
                       points, sc)


# --------------------------------------------------------------------------------------------
# dataset
# --------------------------------------------------------------------------------------------

class ProceduralDataset(Dataset):
    """`n` procedural samples of `size`; sample i of a split is seeded by (seed, split, i). Subclasses render."""

    name = "synthetic"

    def __init__(self, split: str = "test", n: Optional[int] = None, size: Union[int, Tuple[int, int]] = 256,
                 seed: int = 0):
        self.split = check_split(split)
        self.n = DEFAULT_COUNTS[split] if n is None else int(n)
        if self.n < 1:
            raise ConfigError(f"{self.name} dataset needs n ≥ 1, got {self.n}")
        if int(seed) < 0:
            raise ConfigError(f"{self.name} dataset needs seed ≥ 0, got {seed}")
        dims = (size, size) if isinstance(size, int) else tuple(size)
        if min(dims) < 8:
            raise ConfigError(f"synthetic scene size must be at least 8×8, got {dims[0]}×{dims[1]}")
        self.size, self.seed = size, int(seed)

    def __len__(self) -> int:
        return self.n

    def seed_of(self, index: int) -> np.random.SeedSequence:
        """The seed of scene `index` (distinct per split, reproducible across runs and machines)."""
        return np.random.SeedSequence([self.seed, SPLIT_IDS[self.split], index])


class SyntheticDataset(ProceduralDataset):
    """`n` procedural RGB-D scenes of `size`; scene i of a split is seeded by (seed, split, i)."""

    def __init__(self, split: str = "test", n: Optional[int] = None, size: Union[int, Tuple[int, int]] = 256,
                 seed: int = 0, sensor: bool = False):
        super().__init__(split, n, size, seed)
        self.sensor = bool(sensor)
        self.protocol = get_protocol("metres")

    def load(self, index: int) -> Sample:
        guide, depth = render_scene(self.seed_of(index), self.size, self.sensor)
        return Sample(f"synthetic_{self.split}_{index:05d}", guide, depth, None, "m")


def parse_options(text: Optional[str], prefix: str = "synthetic",
                  keys: Tuple[str, ...] = ("n", "size", "seed", "sensor")) -> Dict[str, Any]:
    """'24' or 'n=24,size=320x240,seed=1[,sensor=1]' → keyword arguments for a `prefix:` spec."""
    example = f"{prefix}:n=24,size=256,seed=0" + (",sensor=1" if "sensor" in keys else "")
    if not text:
        return {}
    if text.isdigit():
        return {"n": int(text)}
    out: Dict[str, Any] = {}
    for part in text.split(","):
        key, sep, val = part.partition("=")
        key = key.strip()
        if not sep or key not in keys:
            raise ConfigError(f"bad {prefix} option {part!r}; use e.g. {example}")
        try:
            if key == "size":
                dims = [int(x) for x in val.lower().split("x")]
                if len(dims) > 2:
                    raise ValueError(val)
                out[key] = dims[0] if len(dims) == 1 else (dims[0], dims[1])
            elif key == "sensor":
                out[key] = val.strip().lower() in ("1", "true", "yes", "on")
            else:
                out[key] = int(val)
        except ValueError:
            raise ConfigError(f"bad {prefix} option {part!r}: expected an integer value, e.g. "
                              f"{prefix}:n=24,size=256x256,seed=0") from None
    return out


def _parse_options(text: Optional[str]) -> Dict[str, Any]:
    return parse_options(text, "synthetic")


def _check_options(text: Optional[str]) -> None:
    """Validate 'n=24,size=256,...' without rendering anything."""
    SyntheticDataset("all", **_parse_options(text))


@register_dataset("synthetic", "synthetic[:n=24,size=256,seed=0,sensor=0] (procedural rooms, metres; cm)",
                  check=_check_options)
def open_synthetic(path: Optional[str], split: str = "test", **kw) -> Dataset:
    """Procedural RGB-D scenes; options from the spec text and/or keywords (n, size, seed, sensor)."""
    opts = _parse_options(path)
    unknown = sorted(set(kw) - {"n", "size", "seed", "sensor"})
    if unknown:
        raise ConfigError(f"dataset 'synthetic' takes no option(s) {unknown}; it takes n, size, seed, sensor")
    opts.update(kw)
    return SyntheticDataset(split, **opts)
