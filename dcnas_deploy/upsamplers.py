"""Upsamplers: anything that maps (LR depth, HR guide) to HR depth, by name or by model file.

Contract (every upsampler, classical or learned)::

    up = create_upsampler("guided-filter", scale=8)       # or "model.onnx", "jbu:sigma_range=0.05"
    sr = up(lr, guide)   # lr: h×w float32 in dataset units (NaN/0 = hole); guide: (s·h)×(s·w)×3 in [0,1]
                         # sr: (s·h)×(s·w) float32 in the same units as lr
    sr = up(lr, guide, zero_is_hole=False)   # thermal/saliency: 0 is a value, only NaN/inf are holes
    grey = create_upsampler("guided-filter", scale=8, guide_bands=1)   # "guided-filter:guide_bands=1"
    ours = create_upsampler("depth-x8", scale=8)        # a shipped pretrained model (dcnas_deploy.pretrained)
    sr = grey(lr, guide_grey)   # guide_grey: H×W or H×W×1 in [0,1] (bicubic, guided-filter, jbu)

An upsampler takes guides of `guide_bands` bands (3 unless built with guide_bands=1); `upsample`
always receives the guide as H×W×guide_bands float32.

Holes in `lr` are filled with the nearest valid LR pixel (dcnas_deploy.data.holes.fill_holes) before
any method runs; `BaseUpsampler` does this, so subclasses see hole-free input.

Names are registered with ``@register_upsampler("name")`` on a factory ``(scale, **params)``; model
files are dispatched by suffix to loaders registered with ``@register_file_loader([".onnx"])`` on a
factory ``(path, scale, **params)``. Loader modules listed in FILE_LOADER_MODULES are imported on first
use, so a runtime is only imported when a file of its kind is opened. Learned models that work on
normalised depth should wrap their runtime call in NormalizedUpsampler (spec §1 `lr` mode).
"""
from __future__ import annotations

import importlib
import math
from pathlib import Path
from typing import Callable, Dict, List, Optional, Protocol, Sequence

import numpy as np

from dcnas_deploy.errors import ConfigError, DcnasError

class Upsampler(Protocol):
    """Callable (lr h×w, guide H×W×3 or grey H×W[×1]) -> H×W depth in lr's units; has `name` and `scale`."""

    name: str
    scale: int

    def __call__(self, lr: np.ndarray, guide: np.ndarray, zero_is_hole: bool = True) -> np.ndarray:
        """`zero_is_hole=False` for targets whose 0 is a value (thermal, saliency)."""
        ...


GUIDE_BANDS = (1, 3)
"""Guide band counts the classical upsamplers handle: grey (H×W or H×W×1) and RGB (H×W×3)."""


def guide_band_count(guide: np.ndarray) -> int:
    """Bands of a guide array: 1 for H×W, else the last axis (0 when it is not 2-D or 3-D)."""
    shape = np.shape(guide)
    return 1 if len(shape) == 2 else shape[2] if len(shape) == 3 else 0


def check_pair(lr: np.ndarray, guide: np.ndarray, scale: int, guide_bands: int | Sequence[int] = GUIDE_BANDS,
               lr_bands: int = 1) -> None:
    """Raise DcnasError unless lr is h×w (h×w×C for C = lr_bands > 1) and guide is (scale·h)×(scale·w) with
    `guide_bands` bands (1 or 3).

    A one-band guide may be H×W or H×W×1; a three-band one is H×W×3.
    """
    lr, guide = np.asarray(lr), np.asarray(guide)
    allowed = (int(guide_bands),) if isinstance(guide_bands, (int, np.integer)) else tuple(guide_bands)
    if lr_bands == 1 and lr.ndim != 2:
        raise DcnasError(f"LR depth must be a single-channel h×w array, got shape {lr.shape}")
    if lr_bands > 1 and (lr.ndim != 3 or lr.shape[2] != lr_bands):
        raise DcnasError(f"LR target must be h×w×{lr_bands} ({lr_bands} bands), got shape {lr.shape}")
    if guide_band_count(guide) not in allowed:
        if allowed == (3,):
            raise DcnasError(f"guide must be an H×W×3 RGB array, got shape {guide.shape}")
        if allowed == (1,):
            raise DcnasError(f"guide must be a one-band H×W or H×W×1 array, got shape {guide.shape}")
        raise DcnasError(f"guide must be H×W or H×W×1 (grey) or H×W×3 (RGB), got shape {guide.shape}")
    h, w = lr.shape[:2]
    if guide.shape[:2] != (h * scale, w * scale):
        raise DcnasError(f"guide is {guide.shape[0]}×{guide.shape[1]} but the LR is {h}×{w}; at ×{scale} the guide "
                         f"must be exactly {h * scale}×{w * scale} (mod-crop the guide or pick the right scale)")


class BaseUpsampler:
    """Shape checks and the shared hole filling around `upsample(lr_filled, guide)`."""

    name = "base"
    needs_gt = False
    """True when the upsampler also needs the ground truth (`hr=` keyword: 'gt' normalisation)."""
    target_bands = 1
    """Bands the method takes at once; a classical (one-band) method runs an h×w×C target band by band."""
    model_task = ""
    """The task a learned model was trained for (its bands are fixed); '' for methods that take any task's data."""

    def __init__(self, scale: int, guide_bands: int = 3):
        if int(scale) != scale or scale < 1:
            raise ConfigError(f"scale must be a positive integer, got {scale}")
        if guide_bands not in GUIDE_BANDS:
            raise ConfigError(f"guide_bands must be one of {list(GUIDE_BANDS)} (grey or RGB), got {guide_bands}")
        self.scale = int(scale)
        self.guide_bands = int(guide_bands)
        """Bands of the guide this upsampler takes (3 = RGB, the default; 1 = grey)."""

    def __call__(self, lr: np.ndarray, guide: np.ndarray, zero_is_hole: bool = True, **kw) -> np.ndarray:
        from dcnas_deploy.data.holes import fill_holes

        lr = np.asarray(lr)
        if self.target_bands == 0:  # a method over all bands at once (pan-sharpening)
            if lr.ndim != 3:
                raise DcnasError(f"{self.name} needs a multi-band h×w×C target, got shape {lr.shape}")
        elif lr.ndim == 3 and self.target_bands == 1:  # multi-band target, one-band method: each band on its own
            hr = kw.pop("hr", None)
            return np.stack([self(lr[..., c], guide, zero_is_hole, **kw,
                                  **({"hr": hr[..., c]} if hr is not None else {})) for c in range(lr.shape[2])], -1)
        check_pair(lr, guide, self.scale, getattr(self, "guide_bands", 3),
                   self.target_bands or int(lr.shape[2]))
        g = np.asarray(guide, dtype=np.float32)
        if g.ndim == 2:  # grey H×W -> H×W×1: `upsample` always sees H×W×C
            g = g[..., None]
        out = self.upsample(fill_holes(lr, "LR target", zero_is_hole), g, zero_is_hole=zero_is_hole, **kw)
        return np.asarray(out, dtype=np.float32)

    def upsample(self, lr: np.ndarray, guide: np.ndarray, **kw) -> np.ndarray:
        """Upsample hole-free `lr` with `guide` (H×W×guide_bands; subclasses implement this)."""
        raise NotImplementedError

    def describe(self) -> str:
        """Name and parameters, for tables and result files (guide_bands only when not the default 3)."""
        params = {k: v for k, v in vars(self).items()
                  if k not in ("scale", "name", "needs_gt") and not k.startswith("_")
                  and not (k == "guide_bands" and v == 3)}
        inner = ", ".join(f"{k}={v}" for k, v in params.items())
        return f"{self.name}({inner})" if inner else self.name


class NormalizedUpsampler(BaseUpsampler):
    """Wraps fn(lr_norm h×w, guide H×W×guide_bands) -> sr_norm H×W that works on min–max-normalised depth.

    mode 'lr' (default, deployable) normalises by the LR's own min/max; mode 'gt' (published protocol)
    by the ground truth's, which the caller passes as `hr=`.
    """

    def __init__(self, name: str, scale: int, fn: Callable[[np.ndarray, np.ndarray], np.ndarray],
                 mode: str = "lr", guide_bands: int = 3):
        from dcnas_deploy.data.normalize import NORM_MODES

        super().__init__(scale, guide_bands)
        if mode not in NORM_MODES:
            raise ConfigError(f"unknown normalisation mode {mode!r}; known: {list(NORM_MODES)}")
        self.name, self._fn, self.mode = name, fn, mode
        self.needs_gt = mode == "gt"

    def upsample(self, lr: np.ndarray, guide: np.ndarray, hr: Optional[np.ndarray] = None,
                 zero_is_hole: bool = True) -> np.ndarray:
        from dcnas_deploy.data.normalize import norm_stats

        mm = norm_stats(self.mode, lr, hr, zero_is_hole)
        return mm.invert(self._fn(mm.apply(lr), guide))


# --------------------------------------------------------------------------------------------
# registries
# --------------------------------------------------------------------------------------------

UpsamplerFactory = Callable[..., Upsampler]
_NAMED: Dict[str, UpsamplerFactory] = {}
_FILE_LOADERS: Dict[str, UpsamplerFactory] = {}

FILE_LOADER_MODULES: List[str] = ["dcnas_deploy.export.loaders"]
"""Modules that register file loaders when imported (e.g. 'dcnas_deploy.runtimes.upsampler');
append yours. A module that fails to import is skipped and named in the error for its suffixes."""

MODEL_SUFFIXES = {".pt": "a training checkpoint (dcnas-deploy train)", ".pt2": "a torch.export program",
                  ".onnx": "ONNX (pip install 'dcnas-deploy[onnx]')",
                  ".xml": "OpenVINO IR (pip install 'dcnas-deploy[openvino]')",
                  ".tflite": "TFLite (pip install 'dcnas-deploy[tflite]')"}
"""Model-file suffixes the product knows, with what opening them needs."""

_import_errors: Dict[str, str] = {}


def register_upsampler(name: str) -> Callable[[UpsamplerFactory], UpsamplerFactory]:
    """Decorator: register factory(scale, **params) -> Upsampler under `name`."""

    def deco(factory: UpsamplerFactory) -> UpsamplerFactory:
        _NAMED[name] = factory
        return factory

    return deco


def register_file_loader(suffixes: Sequence[str]) -> Callable[[UpsamplerFactory], UpsamplerFactory]:
    """Decorator: register factory(path, scale, **params) -> Upsampler for model files with these suffixes."""

    def deco(factory: UpsamplerFactory) -> UpsamplerFactory:
        for s in suffixes:
            _FILE_LOADERS[s.lower() if s.startswith(".") else "." + s.lower()] = factory
        return factory

    return deco


def _load_file_loader_modules() -> None:
    for mod in FILE_LOADER_MODULES:
        if mod in _import_errors:
            continue
        try:
            importlib.import_module(mod)
        except ImportError as exc:
            _import_errors[mod] = str(exc)


def check_fits_data(up: Upsampler, target_bands: int, guide_bands: int, task: str) -> None:
    """ConfigError naming the model's task and bands and the data's when a learned model cannot take the data."""
    from dcnas_deploy.tasks import get_task, known_tasks

    model_task = str(getattr(up, "model_task", ""))
    bands = (int(getattr(up, "target_bands", 1)), int(getattr(up, "guide_bands", 3)))
    if not model_task or bands == (int(target_bands), int(guide_bands)):
        return

    def kind(name: str, target: int, guide: int, noun: str) -> str:
        t = get_task(name) if name in known_tasks() else None
        what = t.target if t is not None else name
        guide_word = t.guide.split()[0] if t is not None else "guide"  # 'RGB', 'PAN'
        return f"{target}-band {what} {noun} with a {guide}-band {guide_word} guide"

    data_task = get_task(task)
    raise ConfigError(f"{up.name} is a {kind(model_task, *bands, 'model')}; this data has "
                      f"{kind(data_task.name, int(target_bands), int(guide_bands), 'targets')} "
                      f"(task {data_task.name}): give a model trained for {data_task.name}, or data of the "
                      f"model's task ({model_task})")


def available_upsamplers() -> List[str]:
    """Registered upsampler names."""
    return sorted(_NAMED)


def available_file_suffixes() -> List[str]:
    """Model-file suffixes that have a loader now."""
    _load_file_loader_modules()
    return sorted(_FILE_LOADERS)


def _parse_params(text: str) -> Dict[str, object]:
    """'r=8,eps=1e-3' -> {'r': 8, 'eps': 0.001}."""
    params: Dict[str, object] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, val = part.partition("=")
        if not sep:
            raise ConfigError(f"bad upsampler parameter {part!r}; use name:key=value,key=value")
        try:
            num = float(val)
            params[key.strip()] = int(num) if num.is_integer() and "." not in val and "e" not in val.lower() else num
        except ValueError:
            params[key.strip()] = val.strip()
    return params


def create_upsampler(spec: str, scale: int, *, guide_bands: Optional[int] = None, **params) -> Upsampler:
    """An upsampler from a name ('bicubic', 'jbu:sigma_range=0.05') or a model file path.

    `guide_bands` (the task's guide band count) applies to named methods unless their spec sets it; a model
    file knows its own.
    """
    name, _, rest = str(spec).partition(":")
    if name in _NAMED:
        merged = {**_parse_params(rest), **params}
        if guide_bands is not None:
            merged.setdefault("guide_bands", guide_bands)
        try:
            return _NAMED[name](scale, **merged)
        except ConfigError:
            raise
        except (TypeError, ValueError) as exc:  # an unknown keyword, or a value that is not a number
            raise ConfigError(f"bad parameters {merged} for upsampler {name!r} ({exc}); give numbers as "
                              f"{name}:key=value,key=value") from None
    from dcnas_deploy.pretrained import available_pretrained, resolve_model

    path = Path(resolve_model(str(spec)))
    suffix = path.suffix.lower()
    if suffix:
        _load_file_loader_modules()
        if suffix in _FILE_LOADERS:
            if not path.exists():
                raise DcnasError(f"model file not found: {path}")
            return _FILE_LOADERS[suffix](path, scale, **params)  # a shipped model names itself (model_label)
        if suffix in MODEL_SUFFIXES:
            failed = "; ".join(f"{m}: {e}" for m, e in _import_errors.items())
            raise DcnasError(f"no loader for {suffix} model files in this install yet ({MODEL_SUFFIXES[suffix]})"
                             + (f"; loader modules that failed to import: {failed}" if failed else "")
                             + f". Usable now: {', '.join(available_upsamplers())}")
    shipped = ", ".join(available_pretrained("model"))
    raise ConfigError(f"unknown model {spec!r}; known names: {', '.join(available_upsamplers())}"
                      + (f"; shipped models: {shipped}" if shipped else "")
                      + f"; or a model file ({', '.join(sorted(MODEL_SUFFIXES))})")


# --------------------------------------------------------------------------------------------
# classical baselines
# --------------------------------------------------------------------------------------------

@register_upsampler("bicubic")
class BicubicUpsampler(BaseUpsampler):
    """PIL bicubic LR-up (the published protocol's `lr_up`)."""

    name = "bicubic"

    def upsample(self, lr: np.ndarray, guide: np.ndarray, **kw) -> np.ndarray:
        from dcnas_deploy.data.resize import bicubic_up

        return bicubic_up(lr, self.scale)


class PansharpenUpsampler(BaseUpsampler):
    """A classical pan-sharpening method (data.pansharpen_baselines) on all MS bands at once, PAN guide."""

    target_bands = 0

    def __init__(self, scale: int, method: str, guide_bands: int = 1):
        if guide_bands != 1:
            raise ConfigError(f"{method} is a pan-sharpening method: its guide is a one-band PAN, not {guide_bands} bands")
        super().__init__(scale, guide_bands)
        self.name = method

    def upsample(self, lr: np.ndarray, guide: np.ndarray, **kw) -> np.ndarray:
        from dcnas_deploy.data.pansharpen_baselines import PANSHARPEN_BASELINES

        return PANSHARPEN_BASELINES[self.name](lr, guide[..., 0], self.scale).astype(np.float32)


def _register_pansharpening(method: str) -> None:
    register_upsampler(method)(lambda scale, guide_bands=1: PansharpenUpsampler(scale, method, guide_bands))


for _method in ("brovey", "gihs", "gs", "gsa", "mtf-glp"):
    _register_pansharpening(_method)


@register_upsampler("guided-filter")
class GuidedFilterUpsampler(BaseUpsampler):
    """He et al.'s colour guided filter on the bicubic LR-up.

    Defaults (radius = scale/2 HR pixels, eps = 1e-4) were picked on the synthetic `val` split at ×8,
    not on any test set.
    """

    name = "guided-filter"

    def __init__(self, scale: int, radius: Optional[int] = None, eps: float = 1e-4, guide_bands: int = 3):
        super().__init__(scale, guide_bands)
        self.radius = int(radius) if radius is not None else max(1, self.scale // 2)
        self.eps = float(eps)
        if self.radius < 1 or not self.eps > 0 or not math.isfinite(self.eps):
            raise ConfigError(f"guided-filter needs radius ≥ 1 and a finite eps > 0, got radius={self.radius}, "
                              f"eps={self.eps}; e.g. guided-filter:radius=4,eps=1e-4")

    def upsample(self, lr: np.ndarray, guide: np.ndarray, **kw) -> np.ndarray:
        from dcnas_deploy.data.baselines import guided_filter_upsample

        return guided_filter_upsample(lr, guide, self.scale, self.radius, self.eps)


@register_upsampler("jbu")
class JointBilateralUpsampler(BaseUpsampler):
    """Kopf et al.'s joint bilateral upsampling (spatial σ in LR pixels, range σ in guide units).

    Defaults (σ_spatial = 0.5, σ_range = 0.1, 5×5 LR window) were picked on the synthetic `val` split at
    ×8, not on any test set.
    """

    name = "jbu"

    def __init__(self, scale: int, sigma_spatial: float = 0.5, sigma_range: float = 0.1, radius: int = 2,
                 guide_bands: int = 3):
        super().__init__(scale, guide_bands)
        self.sigma_spatial, self.sigma_range, self.radius = float(sigma_spatial), float(sigma_range), int(radius)
        sigmas = (self.sigma_spatial, self.sigma_range)
        if not all(math.isfinite(v) and v > 0 for v in sigmas) or self.radius < 1:
            raise ConfigError(f"jbu needs finite sigma_spatial > 0, sigma_range > 0 and radius ≥ 1, got "
                              f"sigma_spatial={self.sigma_spatial}, sigma_range={self.sigma_range}, radius={self.radius}; "
                              f"e.g. jbu:sigma_spatial=0.5,sigma_range=0.1")

    def upsample(self, lr: np.ndarray, guide: np.ndarray, **kw) -> np.ndarray:
        from dcnas_deploy.data.baselines import joint_bilateral_upsample

        return joint_bilateral_upsample(lr, guide, self.scale, self.sigma_spatial, self.sigma_range, self.radius)
