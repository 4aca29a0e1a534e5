"""Latency LUTs: per-op measurement on a device, calibration, and vectorised latency costs."""
from dcnas_deploy.lut.table import LUT, Calibration, default_lut_path, find_lut, latency_cost_tables

__all__ = ["LUT", "Calibration", "default_lut_path", "find_lut", "latency_cost_tables"]
