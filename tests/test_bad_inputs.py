"""Acceptance: every command answers bad input with a clear message (issue 14).

One table of cases across every command: empty, binary, non-UTF-8, truncated and wrong-kind files;
paths that exist, are folders or sit under a file; out-of-range, NaN and inf numbers; unknown choices.
For each: exit code ≠ 0, no traceback, a message naming the offending value and what to do, and no
file outside the case's `--out` created or changed. A few checks run through a real subprocess:
output piped to a file, `--version`, and typos refused before torch is imported.
"""
from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Optional, Sequence, Tuple

import numpy as np
import pytest
import yaml
from PIL import Image
from typer.testing import CliRunner

from dcnas_deploy.cli.main import app

REPO = Path(__file__).resolve().parents[1]
PY = sys.executable
BIN = b"\x00\x01\x02\xff\xfe binary \x00"


@dataclass
class Case:
    """argv run in a fresh workspace; `value` and `hint` must both appear in the output."""

    argv: Sequence[str]
    value: str
    hint: str
    env: Dict[str, str] = field(default_factory=dict)
    out: Optional[str] = None
    """The case's --out: the only path under which files may appear."""

    @property
    def id(self) -> str:
        return " ".join(self.argv)[:90]


def _png16(path: Path, h: int, w: int, seed: int = 0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.random.default_rng(seed).integers(300, 4000, (h, w)).astype(np.uint16)).save(path)


def _rgb(path: Path, h: int, w: int, seed: int = 0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (h, w, 3)).astype(np.uint8)).save(path)


def _run_checkpoint(path: Path, kind: str) -> None:
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"format": "dcnas-run/1", "kind": kind, "step": 0}, path)


def make_workspace(root: Path) -> None:
    """The files the cases name (small; written afresh for every case)."""
    from dcnas_deploy.space import SearchSpace

    (root / "dir").mkdir()
    (root / "afile.txt").write_text("not a folder\n")
    (root / "empty.yaml").write_bytes(b"")
    (root / "bin.yaml").write_bytes(BIN)
    (root / "latin1.yaml").write_bytes(b"name: caf\xe9\n")
    (root / "trunc.yaml").write_text("space: {width: 8, scale\n")
    (root / "dup.yaml").write_text("name: a\nname: b\n")
    (root / "list.yaml").write_text("- a\n- b\n")
    SearchSpace().sample(1).to_yaml(root / "arch.yaml")
    d = yaml.safe_load((root / "arch.yaml").read_text())
    d["guide_encoder"]["stage0"][0] = "k9e9"
    (root / "arch_bad.yaml").write_text(yaml.safe_dump(d))
    (root / "arch_dup.yaml").write_text((root / "arch.yaml").read_text() + "decoder: {}\n")
    (root / "nan.yaml").write_text("name: p\ntraining: {lr: .nan}\n")
    (root / "inf.yaml").write_text("name: p\ndata: {noise_level: .inf}\n")
    (root / "spec.yaml").write_text("name: p\ndata: {spec: 'synthetic:n=abc'}\n")
    (root / "lrr.yaml").write_text("name: p\ntraining: {lrr: 0.1}\n")
    (root / "cost.yaml").write_text("name: p\nsampling: {constraint: flops}\n")
    (root / "fake.onnx").write_bytes(b"this is not onnx")
    (root / "fake.xml").write_text("<net>not openvino</net>\n")
    (root / "fake.tflite").write_bytes(b"xx")
    (root / "empty.pt").write_bytes(b"")
    (root / "junk.pt").write_bytes(os.urandom(256))
    (root / "model.pt").write_bytes(b"PK stand-in, never loaded by these cases")
    _run_checkpoint(root / "sn" / "checkpoint.pt", "supernet")
    (root / "sn" / "preset.yaml").write_text("name: demo\n")
    _run_checkpoint(root / "run" / "checkpoint.pt", "arch")
    _png16(root / "lr.png", 8, 8)
    _rgb(root / "rgb.png", 32, 32)
    (root / "empty.png").write_bytes(b"")
    np.save(root / "depth.npy", np.ones((8, 8), np.float32))
    np.save(root / "ms.npy", np.random.default_rng(0).uniform(100, 900, (8, 8, 4)).astype(np.float32))
    Image.fromarray(np.full((32, 32), 128, np.uint8)).save(root / "pan.png")
    for i in (1, 2):  # a Middlebury-layout folder
        Image.fromarray(np.full((16, 16), 40 * i, np.uint8)).save(_mk(root / "mb" / "Depth" / f"M_0{i}_depth.png"))
        _rgb(root / "mb" / "RGB" / f"M_0{i}_color.png", 16, 16, i)
    _png16(root / "rgbdd" / "Depth" / "r1_HR_gt.png", 48, 64)  # the flat public RGB-D-D test layout
    _rgb(root / "rgbdd" / "RGB" / "r1_RGB.jpg", 48, 64)
    _png16(root / "rgbdd" / "DepthLR" / "r1_LR_fill_depth.png", 18, 24)
    (root / "devbin").mkdir()
    (root / "devbin" / "x.yaml").write_bytes(BIN)
    (root / "devdup").mkdir()
    (root / "devdup" / "y.yaml").write_text("name: y\nname: y\n")
    (root / "devlatin").mkdir()
    (root / "devlatin" / "z.yaml").write_bytes(b"name: z\ndescription: caf\xe9\n")
    (root / "luts").mkdir()
    (root / "luts" / "cpu-c8-64x64-x4.yaml").write_bytes((REPO / "luts" / "cpu-c8-64x64-x4.yaml").read_bytes())


def _mk(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


C = Case
INT0 = "integer ≥ 0"
INT1 = "integer ≥ 1"
FOLDER = "give a file path"
NOTFILE = "give a folder path"
FINITE = "not a finite number"
LUT_ENV = {"DCNAS_LUTS": "luts"}

CASES = [
    # ---- arch sample / validate / show --------------------------------------------------------
    C(["arch", "sample", "--seed", "-1", "-o", "o.yaml"], "'-1'", INT0),
    C(["arch", "sample", "--seed", "abc", "-o", "o.yaml"], "'abc'", "give an integer"),
    C(["arch", "sample", "--seed", "1e3", "-o", "o.yaml"], "'1e3'", "give an integer"),
    C(["arch", "sample", "-o", "dir"], "dir", FOLDER),
    C(["arch", "sample", "-o", "afile.txt"], "'.txt'", "use one of .yaml"),
    C(["arch", "sample", "-o", "afile.txt/a.yaml"], "afile.txt is a file", "give another path"),
    C(["arch", "validate", "empty.yaml"], "empty.yaml", "arch sample -o"),
    C(["arch", "validate", "bin.yaml"], "bin.yaml: binary data", "give the .yaml file"),
    C(["arch", "validate", "latin1.yaml"], "0xe9", "save it as UTF-8"),
    C(["arch", "validate", "trunc.yaml"], "trunc.yaml, line", "fix the file there"),
    C(["arch", "validate", "arch_dup.yaml"], "duplicate key 'decoder'", "keep only one"),
    C(["arch", "validate", "dir"], "dir is a folder", "give the path of a .yaml file"),
    C(["arch", "validate", "missing.yaml"], "missing.yaml", "check the path"),
    C(["arch", "validate", "arch_bad.yaml"], "k9e9", "like 'k5e4'"),
    C(["arch", "validate", "list.yaml"], "got a list", "arch sample -o"),
    C(["arch", "show", "arch.yaml", "--width", "2"], "'2'", "≥ 4"),
    C(["arch", "show", "arch.yaml", "--width", "100000"], "'100000'", "≤ 256"),
    C(["arch", "show", "arch.yaml", "--scale", "3"], "'3'", "'2', '4', '8', '16'"),
    C(["arch", "show", "arch.yaml", "--hr", "big"], "'big'", "like 256x256"),
    C(["arch", "show", "arch.yaml", "--hr", "0x0"], "'0x0'", "like 256x256"),
    C(["arch", "show", "arch.yaml", "--hr", "33x32"], "33x32", "multiples of"),
    C(["arch", "show", "bin.yaml"], "bin.yaml: binary data", "give the .yaml file"),
    C(["arch", "show", "empty.yaml", "--json"], "empty.yaml", "arch sample -o"),
    # ---- presets ---------------------------------------------------------------------------------
    C(["presets", "bin.yaml"], "bin.yaml: binary data", "give the .yaml file"),
    C(["presets", "empty.yaml"], "empty.yaml is empty", "presets demo > my-preset.yaml"),
    C(["presets", "dup.yaml"], "duplicate key 'name'", "keep only one"),
    C(["presets", "latin1.yaml"], "0xe9", "save it as UTF-8"),
    C(["presets", "trunc.yaml"], "trunc.yaml, line", "fix the file there"),
    C(["presets", "nan.yaml"], "training.lr: nan", "give a plain number"),
    C(["presets", "inf.yaml", "--json"], "data.noise_level: inf", "give a plain number"),
    C(["presets", "spec.yaml"], "'n=abc'", "synthetic:n=24"),
    C(["presets", "lrr.yaml"], "training.lrr", "expected one of"),
    C(["presets", "cost.yaml"], "'flops'", "expected params, macs or latency:DEVICE"),
    C(["presets", "list.yaml"], "got list", "a preset is a mapping with sections"),
    C(["presets", "nosuch"], "'nosuch'", "known: "),
    C(["presets", "dir/"], "dir", "give the path of a .yaml file"),
    C(["presets"], "/nonexistent-profiles", "unset DCNAS_PROFILES", env={"DCNAS_PROFILES": "/nonexistent-profiles"}),
    C(["presets", "demo"], "afile.txt, which is a file", "unset DCNAS_PROFILES", env={"DCNAS_PROFILES": "afile.txt"}),
    # ---- devices ---------------------------------------------------------------------------------
    C(["devices", "--no-check"], "/nonexistent-devs", "unset DCNAS_DEVICES", env={"DCNAS_DEVICES": "/nonexistent-devs"}),
    C(["devices", "--no-check"], "afile.txt, which is a file", "unset DCNAS_DEVICES", env={"DCNAS_DEVICES": "afile.txt"}),
    C(["devices", "--no-check"], "x.yaml: binary data", "fix or remove", env={"DCNAS_DEVICES": "devbin"}),
    C(["devices", "--no-check", "--json"], "duplicate key 'name'", "fix or remove", env={"DCNAS_DEVICES": "devdup"}),
    C(["devices", "--no-check"], "0xe9", "fix or remove", env={"DCNAS_DEVICES": "devlatin"}),
    # ---- benchmark ---------------------------------------------------------------------------------
    C(["benchmark", "fake.onnx"], "fake.onnx", "re-export it"),
    C(["benchmark", "missing.onnx"], "missing.onnx", "not found"),
    C(["benchmark", "fake.onnx", "--device", "gpu9"], "'gpu9'", "known: cpu"),
    C(["benchmark", "fake.onnx", "--device", "bin.yaml"], "bin.yaml: binary data", "give the .yaml file"),
    C(["benchmark", "fake.onnx", "--threads", "0"], "'0'", INT1),
    C(["benchmark", "fake.onnx", "--json", "dir"], "dir", FOLDER),
    C(["benchmark", "fake.onnx", "--json", "fake.onnx"], "fake.onnx", "use one of .json"),
    C(["benchmark", "afile.txt"], "afile.txt", "expected"),
    C(["benchmark", "arch.yaml", "--width", "2"], "'2'", "≥ 4"),
    C(["benchmark", "arch.yaml", "--scale", "5"], "'5'", "'2', '4', '8', '16'"),
    C(["benchmark", "arch.yaml", "--hr", "big"], "'big'", "like 256x256"),
    C(["benchmark", "bin.yaml", "--device", "cpu-torch"], "bin.yaml: binary data", "give the .yaml file"),
    C(["benchmark", "depth-x8", "--scale", "4"], "depth-x8 has scale 8", "does not apply"),  # a shipped name
    # ---- profile / lut ---------------------------------------------------------------------------
    C(["profile", "--device", "gpu9"], "'gpu9'", "known: cpu"),
    C(["profile", "--device", "bin.yaml"], "bin.yaml: binary data", "give the .yaml file"),
    C(["profile", "--width", "0"], "'0'", "≥ 4"),
    C(["profile", "--scale", "5"], "'5'", "'2', '4', '8', '16'"),
    C(["profile", "--hr", "abc"], "'abc'", "like 256x256"),
    C(["profile", "--calibrate", "-1"], "'-1'", INT0),
    C(["profile", "--threads", "0"], "'0'", INT1),
    C(["profile", "-o", "dir"], "dir", FOLDER),
    C(["profile", "-o", "afile.txt"], "'.txt'", "use one of .yaml"),
    C(["profile", "--device", "cpu", "--width", "8", "--hr", "64x64", "--scale", "8", "--quick", "--calibrate", "0",
       "-o", "luts/cpu-c8-64x64-x4.yaml"], "scale 4 (this run: 8)", "give another --out", env=LUT_ENV),
    C(["lut", "show", "bin.yaml"], "bin.yaml: binary data", "give the .yaml file"),
    C(["lut", "show", "latin1.yaml"], "0xe9", "save it as UTF-8"),
    C(["lut", "show", "empty.yaml"], "empty.yaml", "expected 'format:"),
    C(["lut", "show", "arch.yaml", "--json"], "arch.yaml", "expected 'format:"),
    C(["lut", "show", "dir"], "dir is a folder", "give the path of a .yaml file"),
    C(["lut", "show", "luts/cpu-c8-64x64-x4.yaml", "--top", "0"], "'0'", INT1),
    C(["lut", "check", "bin.yaml"], "bin.yaml: binary data", "give the .yaml file"),
    C(["lut", "check", "luts/cpu-c8-64x64-x4.yaml", "--archs", "0"], "'0'", INT1),
    C(["lut", "check", "luts/cpu-c8-64x64-x4.yaml", "--seed", "-5"], "'-5'", INT0),
    # ---- search ------------------------------------------------------------------------------------
    C(["search", "--supernet", "sn", "--strategy", "genetic"], "'genetic'", "'evolution+predictor', 'evolution', 'random'"),
    C(["search", "--supernet", "sn", "--population", "0"], "'0'", "integer ≥ 2"),
    C(["search", "--supernet", "sn", "--population", "1"], "'1'", "integer ≥ 2"),
    C(["search", "--supernet", "sn", "--iterations", "-1"], "'-1'", INT1),
    C(["search", "--supernet", "sn", "--iterations", "0"], "'0'", INT1),
    C(["search", "--supernet", "sn", "--seed", "-1"], "'-1'", INT0),
    C(["search", "--supernet", "sn", "--verify-max", "0"], "'0'", INT1),
    C(["search", "--supernet", "sn", "-o", "dir"], "dir", FOLDER),
    C(["search", "--supernet", "sn", "-o", "afile.txt"], "'.txt'", "use one of .yaml"),
    C(["search", "--supernet", "sn", "--latency", "fast"], "'fast'", "use e.g. 40ms"),
    C(["search", "--supernet", "sn", "--latency", "-3ms"], "'-3ms'", "use e.g. 40ms"),
    C(["search", "--supernet", "sn", "--latency", "1e999ms"], "'1e999ms'", FINITE),
    C(["search", "--supernet", "sn", "--latency", "nan"], "'nan'", "use e.g. 40ms"),
    C(["search", "--supernet", "sn", "--params", "0"], "'0'", "use e.g. 0.6M"),
    C(["search", "--supernet", "sn", "--params", "inf"], "'inf'", "use e.g. 0.6M"),
    C(["search", "--supernet", "sn", "--macs", "2X"], "'2X'", "use e.g. 0.6M"),
    C(["search", "--supernet", "sn", "--hr", "big", "--params", "1M"], "'big'", "like 256x256"),
    C(["search", "--supernet", "sn", "--device", "gpu9", "--latency", "40ms"], "'gpu9'", "known: cpu"),
    C(["search", "--supernet", "missing", "--params", "1M"], "missing", "train-supernet --out DIR"),
    C(["search", "--supernet", "afile.txt", "--params", "1M"], "afile.txt", "train-supernet --out DIR"),
    C(["search", "--supernet", "dir", "--params", "1M"], "dir", "train-supernet --out DIR"),
    C(["search", "--supernet", "supernet-x4", "--device", "gpu9", "--latency", "40ms"],
      "--supernet supernet-x4: the shipped supernet", "known: cpu"),  # the name is taken, then the device refused
    # ---- train-supernet / train ----------------------------------------------------------------------
    C(["train-supernet", "--out", "r", "--nproc", "0"], "'0'", INT1, out="r"),
    C(["train-supernet", "--out", "r", "--steps", "0"], "'0'", INT1, out="r"),
    C(["train-supernet", "--out", "r", "--epochs", "-2"], "'-2'", INT1, out="r"),
    C(["train-supernet", "--out", "r", "--seed", "-1"], "'-1'", INT0, out="r"),
    C(["train-supernet", "--out", "r", "--device", "gpu"], "'gpu'", "'auto', 'cpu', 'cuda'", out="r"),
    C(["train-supernet", "--out", "r", "--preset", "bin.yaml"], "bin.yaml: binary data", "give the .yaml file", out="r"),
    C(["train-supernet", "--out", "r", "--preset", "empty.yaml"], "empty.yaml is empty", "presets demo >", out="r"),
    C(["train-supernet", "--out", "r", "--preset", "nan.yaml"], "training.lr: nan", "give a plain number", out="r"),
    C(["train-supernet", "--out", "r", "--preset", "nosuch"], "'nosuch'", "known: ", out="r"),
    C(["train-supernet", "--out", "afile.txt", "--preset", "demo"], "afile.txt", NOTFILE),
    C(["train-supernet", "--out", "r", "--preset", "demo", "--data", "synthetic:n=abc"], "'n=abc'", "synthetic:n=24",
      out="r"),
    C(["train-supernet", "--out", "r", "--preset", "demo", "--data", "nosuch:x"], "'nosuch:x'", "known: ", out="r"),
    C(["train-supernet", "--out", "r", "--preset", "demo", "--data", "folder:/nonexistent-data"],
      "/nonexistent-data", "expected PATH/depth/NAME", out="r"),
    C(["train-supernet", "--out", "r", "--preset", "demo", "--constraint", "latency:gpu9"], "'gpu9'", "known: cpu",
      out="r"),
    C(["train-supernet", "--out", "r", "--preset", "demo", "--constraint", "flops"], "'flops'", "latency:DEVICE",
      out="r"),
    C(["train-supernet", "--out", "r", "--preset", "demo", "--steps", "5", "--epochs", "2"], "--steps or --epochs",
      "not both", out="r"),
    C(["train", "--arch", "bin.yaml", "--out", "r"], "bin.yaml: binary data", "give the .yaml file", out="r"),
    C(["train", "--arch", "missing.yaml", "--out", "r"], "missing.yaml", "check the path", out="r"),
    C(["train", "--arch", "arch_bad.yaml", "--out", "r"], "k9e9", "like 'k5e4'", out="r"),
    C(["train", "--arch", "arch.yaml", "--out", "r", "--init", "foo"], "'foo'", "'scratch', 'supernet'", out="r"),
    C(["train", "--arch", "arch.yaml", "--out", "r", "--nproc", "0"], "'0'", INT1, out="r"),
    C(["train", "--arch", "arch.yaml", "--out", "afile.txt", "--preset", "demo"], "afile.txt", NOTFILE),
    C(["train", "--arch", "arch.yaml", "--out", "r", "--preset", "spec.yaml"], "'n=abc'", "synthetic:n=24", out="r"),
    C(["train", "--arch", "arch.yaml", "--out", "r", "--steps", "-3"], "'-3'", INT1, out="r"),
    # ---- predictor -------------------------------------------------------------------------------------
    C(["predictor", "fit", "--supernet", "sn", "--holdout", "1"], "'1'", "< 1"),
    C(["predictor", "fit", "--supernet", "sn", "--holdout", "nan"], "'nan'", FINITE),
    C(["predictor", "fit", "--supernet", "sn", "--loss", "foo"], "'foo'", "'hinge', 'ranknet', 'l1', 'l2'"),
    C(["predictor", "fit", "--supernet", "sn", "--paths", "0"], "'0'", "integer ≥ 4"),
    C(["predictor", "fit", "--supernet", "sn", "--epochs", "0"], "'0'", INT1),
    C(["predictor", "fit", "--supernet", "missing"], "missing", "train-supernet --out DIR"),
    C(["predictor", "fit", "--supernet", "sn", "--out", "dir"], "dir", FOLDER),
    C(["predictor", "eval", "--supernet", "missing"], "missing", "train-supernet --out DIR"),
    C(["predictor", "eval", "--supernet", "sn", "--png", "dir"], "dir", FOLDER),
    # ---- export ----------------------------------------------------------------------------------------
    C(["export", "-m", "model.pt", "-t", "coreml", "-o", "ex"], "'coreml'", "known: onnx", out="ex"),
    C(["export", "-m", "model.pt", "-p", "fp64", "-o", "ex"], "fp64", "use fp32, fp16, int8 or all", out="ex"),
    C(["export", "-m", "fake.onnx", "-o", "ex"], "fake.onnx is an exported model", "model.pt written by", out="ex"),
    C(["export", "-m", "sn/checkpoint.pt", "-o", "ex"], "supernet checkpoint", "dcnas-deploy search --supernet", out="ex"),
    C(["export", "-m", "run/checkpoint.pt", "-o", "ex"], "training state", "model.pt", out="ex"),
    C(["export", "-m", "empty.pt", "-o", "ex"], "empty.pt is not a PyTorch checkpoint", "model.pt written by", out="ex"),
    C(["export", "-m", "junk.pt", "-o", "ex"], "junk.pt is not a PyTorch checkpoint", "model.pt written by", out="ex"),
    C(["export", "-m", "missing.pt", "-o", "ex"], "missing.pt", "model.pt written by", out="ex"),
    C(["export", "-m", "dir", "-o", "ex"], "dir", "model.pt written by", out="ex"),
    C(["export", "-m", "model.pt", "-o", "afile.txt"], "afile.txt", NOTFILE),
    C(["export", "-m", "model.pt", "-o", "model.pt"], "model.pt", NOTFILE),
    C(["export", "-m", "model.pt", "--hr", "big", "-o", "ex"], "'big'", "like 256x256", out="ex"),
    C(["export", "-m", "model.pt", "--check-images", "0", "-o", "ex"], "'0'", INT1, out="ex"),
    C(["export", "-m", "model.pt", "--min-psnr-fp32", "nan", "-o", "ex"], "'nan'", FINITE, out="ex"),
    C(["export", "-m", "model.pt", "--min-psnr-int8", "inf", "-o", "ex"], "'inf'", FINITE, out="ex"),
    C(["export", "-m", "model.pt", "--max-rmse-increase", "-1", "-o", "ex"], "'-1'", "≥ 0", out="ex"),
    C(["export", "-m", "model.pt", "--threads", "0", "-o", "ex"], "'0'", INT1, out="ex"),
    C(["export", "-m", "model.pt", "--norm", "gt", "-o", "ex"], "'gt'", "'lr', 'none'", out="ex"),
    C(["export", "-m", "model.pt", "--data", "synthetic:n=abc", "-o", "ex"], "'n=abc'", "synthetic:n=24", out="ex"),
    C(["export", "-m", "model.pt", "--seed", "-1", "-o", "ex"], "'-1'", INT0, out="ex"),
    # ---- evaluate ----------------------------------------------------------------------------------------
    C(["evaluate", "-m", "fake.onnx", "--data", "mb:x"], "'mb:x'", "known: "),
    C(["evaluate", "-m", "fake.onnx", "--data", "middlebury:mb"], "fake.onnx cannot be opened", "re-export it"),
    C(["evaluate", "-m", "fake.xml", "--data", "middlebury:mb"], "fake.xml cannot be opened", "re-export it"),
    C(["evaluate", "-m", "fake.tflite", "--data", "middlebury:mb"], "fake.tflite cannot be opened", "re-export it"),
    C(["evaluate", "-m", "sn/checkpoint.pt", "--data", "middlebury:mb"], "supernet checkpoint", "then `dcnas-deploy train"),
    C(["evaluate", "-m", "run/checkpoint.pt", "--data", "middlebury:mb"], "training state", "run/model.pt"),
    C(["evaluate", "-m", "junk.pt", "--data", "middlebury:mb"], "junk.pt is not a PyTorch checkpoint", "model.pt"),
    C(["evaluate", "-m", "empty.pt", "--data", "middlebury:mb"], "empty.pt is not a PyTorch checkpoint", "model.pt"),
    C(["evaluate", "-m", "missing.onnx", "--data", "middlebury:mb"], "missing.onnx", "not found"),
    C(["evaluate", "-m", "nosuch", "--data", "middlebury:mb"], "'nosuch'", "known names: bicubic"),
    C(["evaluate", "-m", "jbu:sigma_range=-1", "--data", "middlebury:mb"], "sigma_range=-1.0", "e.g. jbu:"),
    C(["evaluate", "-m", "jbu:sigma_range=abc", "--data", "middlebury:mb"], "'abc'", "give numbers as jbu:key=value"),
    C(["evaluate", "-m", "guided-filter:eps=nan", "--data", "middlebury:mb"], "eps=nan", "e.g. guided-filter:"),
    C(["evaluate", "-m", "depth-x8", "--data", "middlebury:mb", "--scale", "4"], "depth-x8 was trained for ×8",
      "shipped ×4 models: depth-x4"),
    C(["evaluate", "-m", "depth-x8", "--data", "pansharpening-synthetic:n=2,size=64"],
      "depth-x8 is a 1-band depth model with a 3-band RGB guide",
      "this data has 4-band multispectral targets with a 1-band PAN guide"),
    C(["evaluate", "-m", "bicubic", "--scale", "0"], "'0'", INT1),
    C(["evaluate", "-m", "bicubic", "--noise", "-1"], "'-1'", "≥ 0"),
    C(["evaluate", "-m", "bicubic", "--noise", "inf"], "'inf'", FINITE),
    C(["evaluate", "-m", "bicubic", "--split", "foo"], "'foo'", "'train', 'val', 'test'"),
    C(["evaluate", "-m", "bicubic", "--protocol", "foo"], "'foo'", "known: ['metres'"),
    C(["evaluate", "-m", "bicubic", "--limit", "0"], "'0'", INT1),
    C(["evaluate", "-m", "bicubic", "--data", "synthetic:n=abc"], "'n=abc'", "synthetic:n=24"),
    C(["evaluate", "-m", "bicubic", "--data", "synthetic:seed=-1"], "seed ≥ 0", "got -1"),
    C(["evaluate", "-m", "bicubic", "--data", "middlebury:/nonexistent-data"], "/nonexistent-data", "expected"),
    C(["evaluate", "-m", "bicubic", "--data", "nyu:afile.txt"], "afile.txt", "expected either"),
    C(["evaluate", "-m", "bicubic", "--data", "middlebury:mb", "-o", "dir"], "dir", FOLDER),
    C(["evaluate", "-m", "bicubic", "--data", "middlebury:mb", "-o", "r.txt"], "'.txt'", "use one of .json"),
    C(["evaluate", "-m", "bicubic", "--data", "middlebury:mb", "--save-images", "afile.txt"], "afile.txt", NOTFILE),
    C(["evaluate", "-m", "bicubic", "--data", "rgbdd:rgbdd", "--scale", "8"], "not ×8", "--synthetic-lr"),
    C(["evaluate", "-m", "bicubic", "--data", "rgbdd:rgbdd", "--scale", "16", "--real-lr", "direct"], "not ×16",
      "--real-lr-any-scale"),
    C(["evaluate", "-m", "bicubic", "--data", "rgbdd:rgbdd", "--real-lr", "upsample"], "'upsample'",
      "'resize-first', 'direct'"),
    # ---- upsample ------------------------------------------------------------------------------------------
    C(["upsample", "-m", "bicubic", "--depth", "lr.png", "--rgb", "rgb.png", "-o", "lr.png"], "lr.png",
      "give another output path"),
    C(["upsample", "-m", "bicubic", "--depth", "lr.png", "--rgb", "rgb.png", "-o", "o.png", "--preview", "rgb.png"],
      "rgb.png", "give another output path", out="o.png"),
    C(["upsample", "-m", "bicubic", "--depth", "lr.png", "--rgb", "rgb.png", "-o", "o.txt"], "'.txt'",
      "use one of .png, .npy, .pfm"),
    C(["upsample", "-m", "bicubic", "--depth", "lr.png", "--rgb", "rgb.png", "-o", "dir"], "dir", FOLDER),
    C(["upsample", "-m", "bicubic", "--depth", "missing.png", "--rgb", "rgb.png", "-o", "o.png"], "missing.png",
      "not found"),
    C(["upsample", "-m", "bicubic", "--depth", "bin.yaml", "--rgb", "rgb.png", "-o", "o.png"], "'.yaml'", "expected one of"),
    C(["upsample", "-m", "bicubic", "--depth", "lr.png", "--rgb", "empty.png", "-o", "o.png"], "empty.png",
      "cannot be read as an image"),
    C(["upsample", "-m", "bicubic", "--depth", "lr.png", "--rgb", "dir", "-o", "o.png"], "dir", "expected a file"),
    C(["upsample", "-m", "bicubic", "--depth", "lr.png", "--rgb", "rgb.png", "-o", "o.png", "--scale", "0"], "'0'", INT1),
    C(["upsample", "-m", "bicubic", "--depth", "lr.png", "--rgb", "rgb.png", "-o", "o.png", "--scale", "3"], "×3",
      "the guide must be"),
    C(["upsample", "-m", "fake.onnx", "--depth", "lr.png", "--rgb", "rgb.png", "-o", "o.png"],
      "fake.onnx cannot be opened", "re-export it"),
    C(["upsample", "-m", "sn/checkpoint.pt", "--depth", "lr.png", "--rgb", "rgb.png", "-o", "o.png"],
      "supernet checkpoint", "dcnas-deploy search --supernet"),
    C(["upsample", "-m", "bicubic", "--depth", "depth.npy", "--rgb", "rgb.png", "-o", "o.png"], "float (.npy)",
      "write o.npy"),
    C(["upsample", "-m", "depth-x8", "--depth", "lr.png", "--rgb", "rgb.png", "-o", "o.png"],
      "depth-x8 was trained for ×8; asked for ×4", "use it at ×8", out="o.png"),
    C(["upsample", "-m", "depth-x4", "--target", "ms.npy", "--guide", "pan.png", "-o", "o.npy", "--task",
       "pansharpening"], "depth-x4 is a 1-band depth model", "4-band multispectral targets with a 1-band PAN guide",
      out="o.npy"),
    # ---- demo ----------------------------------------------------------------------------------------------
    C(["demo", "--device", "gpu9", "--out", "d"], "'gpu9'", "known: cpu", out="d"),
    C(["demo", "--preset", "bin.yaml", "--out", "d"], "bin.yaml: binary data", "give the .yaml file", out="d"),
    C(["demo", "--preset", "nan.yaml", "--out", "d"], "training.lr: nan", "give a plain number", out="d"),
    C(["demo", "--out", "afile.txt"], "afile.txt", NOTFILE),
    C(["demo", "--budget-percentile", "0", "--out", "d"], "'0'", "≥ 1 and ≤ 100", out="d"),
    C(["demo", "--budget-percentile", "nan", "--out", "d"], "'nan'", FINITE, out="d"),
    C(["demo", "--calibrate", "-1", "--out", "d"], "'-1'", INT0, out="d"),
    # ---- agent ---------------------------------------------------------------------------------------------
    C(["agent", "--port", "70000"], "'70000'", "≤ 65535"),
    C(["agent", "--port", "-1"], "'-1'", "≥ 0"),
    C(["agent", "--runtime", "tensorrt"], "'tensorrt'", "onnxruntime, openvino, litert"),
    C(["agent", "--max-upload-mb", "0"], "'0'", "> 0"),
    C(["agent", "--timeout-s", "nan"], "'nan'", FINITE),
    C(["agent", "--max-queue", "0"], "'0'", INT1),
    C(["agent", "--token-file", "dir"], "dir is a folder", "give the path of the token file"),
]


def _normalise(text: str) -> str:
    """Output with rich box drawing removed and whitespace collapsed (messages may wrap)."""
    return " ".join(re.sub(r"[│╭╮╰╯─━┃]", " ", text).split())


def _snapshot(root: Path, skip: Optional[Path]) -> Dict[str, Tuple[int, str]]:
    """relative path -> (size, sha256) of every file under root, except under `skip`."""
    out = {}
    for p in sorted(root.rglob("*")):
        if p.is_file() and not (skip is not None and (p == skip or skip in p.parents)):
            out[str(p.relative_to(root))] = (p.stat().st_size, hashlib.sha256(p.read_bytes()).hexdigest())
    return out


def _repo_state() -> Dict[str, Tuple[int, float]]:
    return {str(p): (p.stat().st_size, p.stat().st_mtime) for d in ("luts", "devices", "profiles")
            for p in sorted((REPO / d).rglob("*")) if p.is_file()}


def test_at_least_120_cases_cover_every_command():
    commands = {c.argv[0] if c.argv[0] not in ("arch", "lut", "predictor") else " ".join(c.argv[:2]) for c in CASES}
    listed = {"agent", "evaluate", "upsample", "demo", "export", "profile", "devices", "benchmark", "search",
              "train-supernet", "train", "presets", "arch sample", "arch validate", "arch show", "lut show",
              "lut check", "predictor fit", "predictor eval"}
    assert len(CASES) >= 120 and commands == listed


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_gets_a_clear_answer(case: Case, tmp_path, monkeypatch):
    make_workspace(tmp_path)
    monkeypatch.chdir(tmp_path)
    skip = tmp_path / case.out if case.out else None
    before, repo_before = _snapshot(tmp_path, skip), _repo_state()
    t0 = time.perf_counter()
    result = CliRunner().invoke(app, list(case.argv), env=case.env)
    elapsed = time.perf_counter() - t0
    text = _normalise(result.output)
    assert result.exit_code != 0, text
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    assert case.value in text, f"offending value {case.value!r} not named: {text}"
    assert case.hint in text, f"no hint {case.hint!r}: {text}"
    assert _snapshot(tmp_path, skip) == before, "a file outside --out was created or changed"
    assert _repo_state() == repo_before
    assert elapsed < 30, f"refused only after {elapsed:.0f} s: check inputs before the work"


# ---- output for pipes and scripts (real subprocesses) ------------------------------------------------

def _cli(*args: str, cwd: Path, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([PY, "-m", "dcnas_deploy.cli.main", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300, **kw)


def test_piped_yaml_round_trips_and_tables_are_not_cut(tmp_path):
    from dcnas_deploy.presets import load_preset, load_preset_file
    from dcnas_deploy.space import SearchSpace

    r = _cli("presets", "demo", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    (tmp_path / "my.yaml").write_text(r.stdout)
    assert load_preset_file(tmp_path / "my.yaml").to_dict() == load_preset("demo").to_dict()
    arch = SearchSpace().sample(1)
    arch.to_yaml(tmp_path / "a.yaml")
    r = _cli("arch", "show", "a.yaml", cwd=tmp_path)
    assert f"{SearchSpace().params(arch):,}" in r.stdout and "…" not in r.stdout
    r = _cli("devices", "--no-check", cwd=tmp_path)
    assert r.returncode == 0 and "…" not in r.stdout and "not checked" in r.stdout


def test_json_for_table_commands(tmp_path):
    import json

    from dcnas_deploy.space import SearchSpace

    SearchSpace().sample(2).to_yaml(tmp_path / "a.yaml")
    devices = json.loads(_cli("devices", "--no-check", "--json", cwd=tmp_path).stdout)
    assert "cpu" in [d["name"] for d in devices["devices"]]
    presets = json.loads(_cli("presets", "--json", cwd=tmp_path).stdout)
    assert "demo" in [p["name"] for p in presets]
    assert json.loads(_cli("presets", "demo", "--json", cwd=tmp_path).stdout)["name"] == "demo"
    shown = json.loads(_cli("arch", "show", "a.yaml", "--json", cwd=tmp_path).stdout)
    assert shown["total"]["params"] == SearchSpace().params(SearchSpace().sample(2))
    lut = json.loads(_cli("lut", "show", str(REPO / "luts" / "cpu-c8-64x64-x4.yaml"), "--json", cwd=tmp_path).stdout)
    assert lut["geometry"]["scale"] == 4 and len(lut["slowest"]) == 10


def test_version(tmp_path):
    from dcnas_deploy import __version__

    r = _cli("--version", cwd=tmp_path)
    assert r.returncode == 0 and r.stdout.strip() == f"dcnas-deploy {__version__}"


@pytest.mark.parametrize("argv", [["search", "--supernet", "x", "--bogus"], ["export", "-m", "x.pt", "--taget", "onnx"],
                                  ["train", "--arch", "a.yaml", "--out", "r", "--step", "3"],
                                  ["search", "--supernet", "x", "--strategy", "genetic"],
                                  ["export", "-m", "x.pt", "-t", "coreml"], ["evaluate", "-m", "bicubic", "--split", "tset"]])
def test_typos_are_refused_before_torch_is_imported(argv, tmp_path):
    code = ("import sys, runpy; sys.argv = ['dcnas-deploy', *sys.argv[1:]]\n"
            "try:\n    runpy.run_module('dcnas_deploy.cli.main', run_name='__main__')\n"
            "finally:\n    print('TORCH' if 'torch' in sys.modules else 'NO-TORCH', file=sys.stderr)\n")
    t0 = time.perf_counter()
    r = subprocess.run([PY, "-c", code, *argv], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "NO-TORCH" in r.stderr, r.stderr
    assert time.perf_counter() - t0 < 5


def test_long_work_prints_progress_lines_when_piped(tmp_path):
    """`profile` into a pipe: a line when each stage starts and ends (not minutes of silence)."""
    r = _cli("profile", "--device", "cpu-torch", "--width", "4", "--hr", "32x32", "--scale", "8", "--calibrate", "1",
             "--quick", "-o", "l.yaml", cwd=tmp_path, env={**os.environ, "DCNAS_LUTS": str(tmp_path)})
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert any(re.match(r"ops\s+0/\d+", ln) for ln in lines), r.stdout
    assert any(re.match(r"ops\s+(\d+)/\1", ln) for ln in lines), r.stdout
    assert any(re.match(r"calibration\s+1/1", ln) for ln in lines), r.stdout
