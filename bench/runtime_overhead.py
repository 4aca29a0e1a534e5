"""Measure runtime facts the LUT depends on, side by side (medians under the one protocol).

1. per-call overhead: a trivial model (1x1 conv on 1x1x4x4) in every runtime, both the prepared
   call that LUT profiling times (inputs bound once) and the plain call (feed dict in, arrays out);
2. XNNPACK: depthwise 7x7 vs 5x5 conv, LiteRT with XNNPACK on and off and ONNX Runtime (ratio);
3. OpenVINO precision: max abs error vs PyTorch with the CPU's default precision vs an explicit f32 hint;
4. conversion cost: seconds to convert + load one small conv model per backend.

Usage: python bench/runtime_overhead.py [--only overhead,xnnpack,precision,convert] [--threads 1]
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from dcnas_deploy.runtimes.backends import get_backend, time_module
from dcnas_deploy.runtimes.sessions import load_session, make_feeds, openvino_core
from dcnas_deploy.runtimes.protocol import Protocol, measure

console = Console()
RUNTIMES = ("onnxruntime", "openvino", "litert", "torch")


def _convert(module, inputs, runtime: str, folder: Path, stem: str) -> Path:
    backend = get_backend(runtime)
    return backend.convert(module, inputs, folder / f"{stem}{backend.file_suffix}")


def overhead(folder: Path, threads: int, protocol: Protocol) -> None:
    """Per-call overhead of each runtime on a trivial model."""
    torch.manual_seed(0)
    module = torch.nn.Conv2d(4, 4, 1).eval()
    inputs = (torch.rand(1, 4, 4, 4),)
    table = Table(title=f"per-call overhead, trivial model (1x1 conv, 1x4x4x4), {threads} thread(s)")
    for col in ("runtime", "call", "median us", "p10 us", "p90 us", "runs"):
        table.add_column(col, justify="right" if "us" in col or col == "runs" else "left")

    def row(runtime, call, t):
        table.add_row(runtime, call, f"{t.median_ms * 1e3:.2f}", f"{t.p10_ms * 1e3:.2f}", f"{t.p90_ms * 1e3:.2f}",
                      str(t.count))

    row("torch", "eager module(x), inference_mode", time_module(module, inputs, {"threads": threads}, protocol))
    for runtime in RUNTIMES:
        session = load_session(_convert(module, inputs, runtime, folder, "trivial"), runtime, {"threads": threads})
        feeds = make_feeds(session.inputs)
        row(runtime, "prepared (what LUTs time)", measure(session.prepare(feeds), protocol))
        row(runtime, "run(feed dict) -> arrays", measure(lambda: session.run(feeds), protocol))
        if runtime == "openvino":
            compiled = session._compiled
            row(runtime, "compiled_model(dict)", measure(lambda: compiled(feeds), protocol))
    console.print(table)


class DepthwiseConv(torch.nn.Module):
    """One depthwise k x k conv, 'same' padding."""

    def __init__(self, channels: int, k: int):
        super().__init__()
        self.conv = torch.nn.Conv2d(channels, channels, k, padding=k // 2, groups=channels)

    def forward(self, x):
        return self.conv(x)


def xnnpack(folder: Path, threads: int, protocol: Protocol, channels: int = 32, size: int = 128) -> None:
    """Depthwise 7x7 vs 5x5: LiteRT with XNNPACK on/off and ONNX Runtime."""
    torch.manual_seed(0)
    inputs = (torch.rand(1, channels, size, size),)
    files = {k: {rt: _convert(DepthwiseConv(channels, k).eval(), inputs, rt, folder, f"dw{k}")
                 for rt in ("litert", "onnxruntime")} for k in (5, 7)}
    table = Table(title=f"depthwise conv, 1x{channels}x{size}x{size}, {threads} thread(s)")
    for col in ("runtime", "5x5 median ms", "7x7 median ms", "7x7 / 5x5"):
        table.add_column(col, justify="left" if col == "runtime" else "right")
    for label, runtime, opts in [("litert, XNNPACK on", "litert", {"xnnpack": True}),
                                 ("litert, XNNPACK off", "litert", {"xnnpack": False}),
                                 ("onnxruntime", "onnxruntime", {})]:
        med = {}
        for k in (5, 7):
            session = load_session(files[k][runtime], runtime, dict(opts, threads=threads))
            med[k] = measure(session.prepare(make_feeds(session.inputs)), protocol).median_ms
        table.add_row(label, f"{med[5]:.4f}", f"{med[7]:.4f}", f"{med[7] / med[5]:.2f}x")
    console.print(table)


class ConvPixelShuffle(torch.nn.Module):
    """conv 3x3 -> ReLU -> conv 3x3 -> PixelShuffle(2), output in about [-1, 1]."""

    def __init__(self, c: int = 16):
        super().__init__()
        self.a = torch.nn.Conv2d(4, c, 3, padding=1)
        self.b = torch.nn.Conv2d(c, 4 * 4, 3, padding=1)
        self.ps = torch.nn.PixelShuffle(2)

    def forward(self, x):
        return torch.tanh(self.ps(self.b(torch.relu(self.a(x)))))


def precision(folder: Path, threads: int) -> None:
    """OpenVINO CPU: default inference precision vs explicit f32 hint, max abs error vs PyTorch."""
    torch.manual_seed(0)
    module = ConvPixelShuffle().eval()
    x = torch.rand(1, 4, 64, 64)
    with torch.no_grad():
        ref = module(x).numpy()
    path = _convert(module, (x,), "openvino", folder, "cps")
    _, core = openvino_core()
    default_hint = core.get_property("CPU", "INFERENCE_PRECISION_HINT")
    compiled = core.compile_model(core.read_model(str(path)), "CPU", {"INFERENCE_NUM_THREADS": threads})
    err_default = float(np.abs(compiled({0: x.numpy()})[0] - ref).max())
    session = load_session(path, "openvino", {"threads": threads, "precision": "fp32"})
    err_f32 = float(np.abs(session.run({session.inputs[0].name: x.numpy()})[0] - ref).max())
    table = Table(title=f"OpenVINO CPU precision ({core.get_property('CPU', 'FULL_DEVICE_NAME')})")
    for col in ("config", "runs as", "max abs err vs torch"):
        table.add_column(col)
    table.add_row("no hint (OpenVINO default)", default_hint.get_type_name(), f"{err_default:.2e}")
    table.add_row("precision fp32 (our default)", session.effective_precision(), f"{err_f32:.2e}")
    console.print(table)


def convert_cost(folder: Path) -> None:
    """Seconds to convert + load one small conv model in each backend (second call: warm)."""
    torch.manual_seed(0)
    table = Table(title="convert + load one small conv+PixelShuffle model (1x4x32x32), warm")
    for col in ("backend", "convert s", "load s"):
        table.add_column(col, justify="left" if col == "backend" else "right")
    x = (torch.rand(1, 4, 32, 32),)
    for runtime in RUNTIMES:
        _convert(ConvPixelShuffle().eval(), x, runtime, folder, "warm")  # first call pays imports
        t0 = time.perf_counter()
        path = _convert(ConvPixelShuffle().eval(), x, runtime, folder, "cost")
        t1 = time.perf_counter()
        load_session(path, runtime, {"threads": 1})
        t2 = time.perf_counter()
        table.add_row(runtime, f"{t1 - t0:.3f}", f"{t2 - t1:.3f}")
    console.print(table)


SECTIONS = {"overhead": overhead, "xnnpack": xnnpack, "precision": precision, "convert": convert_cost}


def main() -> None:
    """Run the chosen sections."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default=",".join(SECTIONS), help="comma-separated sections: " + ", ".join(SECTIONS))
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    protocol = Protocol()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for name in args.only.split(","):
            fn = SECTIONS[name.strip()]
            if name == "convert":
                fn(folder)
            elif name == "precision":
                fn(folder, args.threads)
            else:
                fn(folder, args.threads, protocol)


if __name__ == "__main__":
    main()
