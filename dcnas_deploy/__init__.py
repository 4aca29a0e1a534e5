"""dcnas-deploy: hardware-aware NAS (DCNAS) and deployment for guided image super-resolution.

Top-level names are imported lazily so that `import dcnas_deploy` (and the CLI's --help) stay fast.
"""
from __future__ import annotations

__version__ = "0.1.0"

_LAZY = {
    "SearchSpace": "dcnas_deploy.space",
    "Arch": "dcnas_deploy.space",
    "Op": "dcnas_deploy.space",
    "Supernet": "dcnas_deploy.model",
    "SubNet": "dcnas_deploy.model",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'dcnas_deploy' has no attribute {name!r}")
