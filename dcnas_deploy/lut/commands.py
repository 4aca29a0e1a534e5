"""The commands a message tells a person to run about a LUT (torch-free, imported by the table's own checks)."""
from __future__ import annotations

from typing import Any, Dict


def profile_command(device: str, geometry: Dict[str, Any], force: bool = False) -> str:
    """The command that (re)fills a LUT of this device and geometry (`force`: re-measures all of it)."""
    return (f"dcnas-deploy profile --device {device} --width {geometry['width']} "
            f"--hr {geometry['hr'][0]}x{geometry['hr'][1]} --scale {geometry['scale']}" + (" --force" if force else ""))
