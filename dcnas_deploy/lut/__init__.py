"""Latency LUTs: per-op measurement on a device, calibration, and vectorised latency costs."""
from dcnas_deploy.costs import register_cost
from dcnas_deploy.lut.table import LUT, Calibration, default_lut_path, find_lut

__all__ = ["LUT", "Calibration", "default_lut_path", "find_lut"]


@register_cost("latency")
def _latency_cost(space, hr_size, device: str):
    """latency:DEVICE — the calibrated LUT of DEVICE (name or LUT path) at this geometry."""
    if not device.endswith((".yaml", ".yml")) and "/" not in device:
        from dcnas_deploy.runtimes.devices import load_device

        load_device(device)  # an unknown device is named with the known ones, not sent to `profile`
    return find_lut(device, space, hr_size).cost_tables(space)
