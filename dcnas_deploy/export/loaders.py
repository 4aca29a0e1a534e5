"""Upsamplers from model files, so `evaluate` and `upsample` accept them (`upsamplers.register_file_loader`).

- `.onnx`, `.xml`, `.tflite`: an exported graph, loaded with `runtimes.sessions.load_session` in the runtime
  of its row in the format table. Layout, scale and normalisation come from its metadata (sidecar or
  embedded), else from its input shapes.
- `.pt`: a training checkpoint (`model.checkpoint.save_model`), run in PyTorch through the same
  `Deployable` wrapper that export converts.

An exported graph has one fixed HR size, the size its export gate checked it at. An image of exactly
that size runs once. A smaller one is edge-padded to it (edge padding adds no new LR values, so the
in-graph min/max normalisation is the image's own) and the output cropped back. A larger one runs as
overlapping tiles blended linearly; each tile is then normalised by its own LR min/max, which is what the
deployed graph does on a tile. Either way the result is no longer the one the gate checked: a tile lacks
the context the network sees on the whole image (with 64×64 HR tiles of depth-x8 on Middlebury, up to
~48 levels of 0–255 at tile borders, RMSE ~2.7 vs PyTorch on the whole image; halving the tiles' stride
barely helps, larger tiles do), so the upsampler warns, naming the checked size.
A checkpoint runs at any size: the image is edge-padded to the next multiple the network needs.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, List, Optional, Tuple

import numpy as np

from dcnas_deploy.errors import ConfigError, DcnasError
from dcnas_deploy.upsamplers import BaseUpsampler, register_file_loader

TileFn = Callable[[np.ndarray, np.ndarray], np.ndarray]


def tile_starts(n: int, tile: int, overlap: int) -> List[int]:
    """Start offsets of tiles of size `tile` covering 0..n with at least `overlap` shared pixels."""
    if n <= tile:
        return [0]
    stride = max(1, tile - overlap)
    starts = list(range(0, n - tile + 1, stride))
    if starts[-1] != n - tile:
        starts.append(n - tile)
    return starts


def _pad_edge(lr: np.ndarray, guide: np.ndarray, lr_hw: Tuple[int, int], scale: int):
    h, w = lr.shape[:2]
    ph, pw = max(0, lr_hw[0] - h), max(0, lr_hw[1] - w)
    if not (ph or pw):
        return lr, guide
    bands = ((0, 0),) * (lr.ndim - 2)
    return (np.pad(lr, ((0, ph), (0, pw), *bands), mode="edge"),
            np.pad(guide, ((0, ph * scale), (0, pw * scale), (0, 0)), mode="edge"))


def _ramp(n: int, overlap: int) -> np.ndarray:
    """1-D blend weights: linear ramps of `overlap` pixels at both ends (never zero)."""
    w = np.ones(n, np.float64)
    if overlap > 0:
        r = (np.arange(overlap) + 1.0) / (overlap + 1.0)
        w[:overlap] = np.minimum(w[:overlap], r)
        w[n - overlap:] = np.minimum(w[n - overlap:], r[::-1])
    return w


def run_tiled(fn: TileFn, lr: np.ndarray, guide: np.ndarray, scale: int, tile_lr: Tuple[int, int],
              overlap_lr: Optional[int] = None) -> np.ndarray:
    """Run a fixed-geometry `fn(lr_tile, guide_tile)` over an image of any size (pad or tile, then blend)."""
    h, w = lr.shape[:2]
    th, tw = tile_lr
    if (h, w) == (th, tw):
        return fn(lr, guide)
    if h <= th and w <= tw:
        plr, pg = _pad_edge(lr, guide, (th, tw), scale)
        return fn(plr, pg)[: h * scale, : w * scale]
    ov = max(1, min(th, tw) // 4) if overlap_lr is None else int(overlap_lr)
    lr_p, guide_p = _pad_edge(lr, guide, (max(h, th), max(w, tw)), scale)
    H, W = lr_p.shape[0] * scale, lr_p.shape[1] * scale
    acc, wsum = np.zeros((H, W, *lr.shape[2:]), np.float64), np.zeros((H, W, *lr.shape[2:]), np.float64)
    ys, xs = tile_starts(lr_p.shape[0], th, ov), tile_starts(lr_p.shape[1], tw, ov)
    weight = np.outer(_ramp(th * scale, ov * scale if len(ys) > 1 else 0),
                      _ramp(tw * scale, ov * scale if len(xs) > 1 else 0))
    if lr.ndim == 3:
        weight = weight[:, :, None]
    for y in ys:
        for x in xs:
            out = fn(lr_p[y:y + th, x:x + tw], guide_p[y * scale:(y + th) * scale, x * scale:(x + tw) * scale])
            acc[y * scale:(y + th) * scale, x * scale:(x + tw) * scale] += out * weight
            wsum[y * scale:(y + th) * scale, x * scale:(x + tw) * scale] += weight
    return (acc / wsum).astype(np.float32)[: h * scale, : w * scale]


class ExportedFileUpsampler(BaseUpsampler):
    """An exported `.onnx`/`.xml`/`.tflite` graph as an upsampler (fixed geometry: pad or tile)."""

    needs_gt = False

    def __init__(self, path, scale: int, threads: int = 2):
        from dcnas_deploy.export.formats import format_for_file
        from dcnas_deploy.export.metadata import read_metadata

        super().__init__(scale)
        self.path = Path(path)
        self.name = self.path.name
        fmt = format_for_file(self.path)
        try:
            meta = read_metadata(self.path) or {}
            self._session, _note = fmt.load(self.path, str(meta.get("precision", "fp32")), int(threads))
        except DcnasError:
            raise
        except Exception as exc:  # each runtime raises its own types for a truncated or foreign file
            first = (str(exc).strip().splitlines() or [""])[0][:200]
            raise ConfigError(f"{self.path} cannot be opened by {fmt.runtime} ({type(exc).__name__}: {first}); "
                              f"it may be truncated or not a {fmt.name} model: re-export it with "
                              f"`dcnas-deploy export`") from None
        self.model_task = str((meta.get("train_meta") or {}).get("task") or "depth")
        self.layout = str(meta.get("layout") or self._guess_layout())
        self.norm = str(meta.get("norm", "lr"))
        lr_shape, guide_shape = self._input_shapes()
        if self.layout == "NHWC":
            (lh, lw), (gh, gw) = lr_shape[1:3], guide_shape[1:3]
            self.target_bands, self.guide_bands = int(lr_shape[3] or 1), int(guide_shape[3] or 3)
        else:
            (lh, lw), (gh, gw) = lr_shape[2:4], guide_shape[2:4]
            self.target_bands, self.guide_bands = int(lr_shape[1] or 1), int(guide_shape[1] or 3)
        model_scale = int(meta.get("scale") or gh // lh)
        if model_scale != self.scale:
            raise ConfigError(f"{self.name} upsamples ×{model_scale} (LR {lh}×{lw} → {gh}×{gw}); "
                              f"asked for ×{self.scale}: use it at ×{model_scale}")
        self.tile_lr = (int(lh), int(lw))

    def _input_shapes(self):
        specs = {s.name: s.shape for s in self._session.inputs}
        if set(specs) == {"lr", "guide"}:
            return specs["lr"], specs["guide"]
        a, b = [s.shape for s in self._session.inputs]
        return (a, b) if np.prod([d or 1 for d in a]) < np.prod([d or 1 for d in b]) else (b, a)

    def _guess_layout(self) -> str:
        shapes = [s.shape for s in self._session.inputs]
        # bands sit on the smaller of axes 1 and 3 (a guide has 1 or 3 bands, an image is larger than that)
        return "NHWC" if any(len(s) == 4 and s[1] and s[3] and s[3] < s[1] for s in shapes) else "NCHW"

    def _run(self, lr: np.ndarray, guide: np.ndarray) -> np.ndarray:
        from dcnas_deploy.data.normalize import norm_stats
        from dcnas_deploy.export.pipeline import feeds_for
        from dcnas_deploy.export.samples import graph_output_to_image, image_to_graph

        mm = norm_stats("lr", lr, zero_is_hole=False) if self.norm == "none" else None  # lr is hole-filled already
        x = mm.apply(lr) if mm is not None else lr
        nhwc = self.layout == "NHWC"
        a, b = image_to_graph(x, nhwc), image_to_graph(guide, nhwc)
        out = graph_output_to_image(self._session.run(feeds_for(self._session, a, b))[0], nhwc)
        return mm.invert(out) if mm is not None else out

    def upsample(self, lr: np.ndarray, guide: np.ndarray, **kw) -> np.ndarray:
        if tuple(lr.shape[:2]) != self.tile_lr:
            from dcnas_deploy.errors import warn

            warn(self.size_note(lr.shape[0] > self.tile_lr[0] or lr.shape[1] > self.tile_lr[1]))
        return run_tiled(self._run, lr, guide, self.scale, self.tile_lr)

    def size_note(self, tiled: bool) -> str:
        """What changes when an image is not the size the file was exported and checked at (tiled: larger)."""
        h, w = (n * self.scale for n in self.tile_lr)
        how = (f"larger images run as overlapping {h}×{w} tiles, each without the context around it and normalised "
               "by its own LR range, so they differ from the PyTorch model on the whole image (most at tile borders, "
               "more the smaller the tiles)" if tiled else
               f"smaller images are edge-padded to {h}×{w}, which changes the output near the padded edges a little")
        return (f"{self.name} was exported and checked at HR {h}×{w} (its export gate ran at that size); {how}: export "
                f"with --hr at your images' size to run them in one piece")

    def describe(self) -> str:
        """Name, runtime and geometry."""
        return f"{self.name}({self._session.runtime}, {self.layout}, tile {self.tile_lr[0]}×{self.tile_lr[1]} LR)"


class CheckpointUpsampler(BaseUpsampler):
    """A training checkpoint run in PyTorch through the deployable wrapper (any image size)."""

    def __init__(self, path, scale: int, threads: int = 2, norm: str = ""):
        from dcnas_deploy.export.deployable import deployable_from_checkpoint
        from dcnas_deploy.pretrained import model_label, scale_hint
        from dcnas_deploy.runtimes.sessions import set_torch_threads

        super().__init__(scale)
        self.path = Path(path)
        self.name = model_label(self.path)
        self._module, self.meta = deployable_from_checkpoint(self.path, norm=norm)
        space = self._module.space
        self.model_task = str(self.meta.get("task") or "depth")
        self.target_bands, self.guide_bands = int(space.target_channels), int(space.guide_channels)
        if int(space.scale) != self.scale:
            raise ConfigError(f"{self.name} was trained for ×{space.scale}; asked for ×{self.scale}: use it at "
                              f"×{space.scale}{scale_hint(self.scale)}")
        self._multiple = int(np.lcm(space.scale, 8)) // int(space.scale)
        set_torch_threads(int(threads))

    def upsample(self, lr: np.ndarray, guide: np.ndarray, **kw) -> np.ndarray:
        import torch

        from dcnas_deploy.export.samples import graph_output_to_image, image_to_graph

        h, w = lr.shape[:2]
        m = self._multiple
        lr_p, g_p = _pad_edge(lr, guide, (-(-h // m) * m, -(-w // m) * m), self.scale)
        with torch.no_grad():
            out = self._module(torch.from_numpy(image_to_graph(lr_p)), torch.from_numpy(image_to_graph(g_p)))
        return graph_output_to_image(out.numpy(), False)[: h * self.scale, : w * self.scale]


@register_file_loader([".onnx", ".xml", ".tflite"])
def _exported_file(path, scale: int, **params) -> ExportedFileUpsampler:
    return ExportedFileUpsampler(path, scale, **params)


@register_file_loader([".pt"])
def _checkpoint_file(path, scale: int, **params) -> CheckpointUpsampler:
    return CheckpointUpsampler(path, scale, **params)
