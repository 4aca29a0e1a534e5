"""`benchmark` of a training checkpoint: what it times is the Deployable wrapper, as deployed.

The checkpoint (`model.checkpoint.save_model`, a .pt zip) is wrapped exactly as `export` wraps it
(in-graph `lr` normalisation) at the model's search-space HR size (or --hr) and handed to
`runtimes.modules.measure_modules`, the one path from a module to a device timing. TorchScript `.pt`
files are not checkpoints (they hold compiled code) and stay model files.
"""
from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

from dcnas_deploy.errors import ConfigError


def is_checkpoint(path) -> bool:
    """True for a torch.save zip without TorchScript code (our checkpoints), False otherwise."""
    p = Path(path)
    if p.suffix != ".pt" or not p.is_file():
        return False
    try:
        with zipfile.ZipFile(p) as z:
            names = z.namelist()
    except (zipfile.BadZipFile, OSError):
        return False
    return any(n.endswith("/data.pkl") for n in names) and not any("/code/" in n for n in names)


def checkpoint_module(path, options: Optional[Dict[str, Any]] = None) -> Tuple[Any, tuple]:
    """(Deployable, example inputs) of a checkpoint at `options['hr_size']` or its search-space HR size.

    `benchmark` times this through `runtimes.modules.measure_modules` (converted for the device's runtime,
    or eager for a local PyTorch profile). width/scale are fixed by the checkpoint: other values are errors.
    """
    from dcnas_deploy.export.deployable import deployable_from_checkpoint
    from dcnas_deploy.pretrained import model_label

    module, _meta = deployable_from_checkpoint(path)
    space = module.space
    opts = {k: v for k, v in dict(options or {}).items() if v is not None}
    for key in ("width", "scale"):
        if key in opts and int(opts[key]) != int(getattr(space, key)):
            raise ConfigError(f"{model_label(path)} has {key} {getattr(space, key)}; --{key} {opts[key]} does not apply "
                              "to a trained checkpoint")
    hr = space.check_hr(tuple(opts.get("hr_size") or space.hr_size))
    return module, module.example_inputs(hr)
