"""Scoring protocols: how a dataset's depth is cropped and converted before RMSE/MAE/PSNR/SSIM.

Each published benchmark scores in its own units; these rows follow the DCNAS authors' evaluation
code (``utils/metrics.py``: NYU ×100 with a 6-px border, RGB-D-D ×0.1, Middlebury/Lu ×1).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Dict, Optional

from dcnas_deploy.errors import ConfigError


@dataclass(frozen=True)
class EvalProtocol:
    """How to score one dataset: border crop, units conversion and the PSNR/SSIM peak."""

    name: str
    border: int
    """Pixels cropped from every side before scoring."""
    factor: float
    """Multiplier from dataset units to reported units (metres→cm: 100)."""
    unit: str
    """Reported unit, for tables."""
    peak: Optional[float]
    """PSNR/SSIM data range in reported units; None = the image's valid ground-truth max−min."""
    description: str = ""
    zero_is_hole: bool = True
    """Whether ground-truth zeros are holes (depth) or values (thermal, saliency)."""

    def to_dict(self) -> dict:
        """Plain dict (JSON-safe)."""
        return asdict(self)


PROTOCOLS: Dict[str, EvalProtocol] = {}


def register_protocol(protocol: EvalProtocol) -> EvalProtocol:
    """Add a scoring protocol under its name."""
    PROTOCOLS[protocol.name] = protocol
    return protocol


register_protocol(EvalProtocol("nyu", 6, 100.0, "cm", None, "NYU v2: depth in metres, 6-px border crop, RMSE in cm"))
register_protocol(EvalProtocol("rgbdd", 0, 0.1, "cm", None, "RGB-D-D: depth in mm, no crop, RMSE in cm"))
register_protocol(EvalProtocol("middlebury", 0, 1.0, "0-255", 255.0,
                               "Middlebury/Lu: 8-bit depth, no crop, RMSE in 0–255 units"))
register_protocol(EvalProtocol("metres", 0, 100.0, "cm", None, "depth in metres, no crop, RMSE in cm (synthetic)"))
register_protocol(EvalProtocol("raw", 0, 1.0, "units", None, "depth in the files' own units, no crop"))
register_protocol(EvalProtocol("thermal", 0, 1.0, "0-255", 255.0,
                               "8-bit thermal images (PBVS layout), no crop, PSNR/SSIM on 0–255", zero_is_hole=False))
register_protocol(EvalProtocol("saliency", 0, 1.0, "0-1", 1.0,
                               "saliency maps in [0, 1], no crop; max F-measure (β² = 0.3) and MAE",
                               zero_is_hole=False))
register_protocol(EvalProtocol("pansharpening", 0, 1.0, "DN", None,
                               "multispectral DN, no crop; PSNR/SSIM over each image's range; SAM, ERGAS, SCC, Q, "
                               "Q2n (reduced resolution) or D_λ, D_s, QNR (full resolution)", zero_is_hole=False))


def get_protocol(name: str) -> EvalProtocol:
    """The registered protocol called `name` (ConfigError listing the known ones otherwise)."""
    try:
        return PROTOCOLS[name]
    except KeyError:
        raise ConfigError(f"unknown scoring protocol {name!r}; known: {sorted(PROTOCOLS)}") from None
