"""GPU readiness in one go (issue 19 item 9): on one CUDA GPU, in about 5 minutes, every product stage runs.

  1. profile a `cuda` LUT at 256×256 ×8 (width 8, the DCNAS-Tiny geometry) with its calibration;
  2. train the `tiny-x8` supernet for 200 steps with AMP (fp16 autocast + loss scaling) on the GPU;
  3. search at the LUT's median latency with the closed loop (the winner is re-measured on the GPU);
  4. retrain the winner briefly and export it (ONNX + OpenVINO fp32, accuracy-checked).
Without CUDA it prints why and exits 0 (a skip, not a failure). Every stage is a CLI call as a user types it;
stage times are printed and written to OUT/gpu_smoke.json. `--commit-lut` copies the measured LUT (with its
host fingerprint) into luts/, where the product finds it.

`--cpu-dry-run` runs the same sequence on this CPU (quick timing protocol, 20 steps, bf16 autocast) to check
the script itself where no GPU is at hand; its figures mean nothing.

Usage: python bench/gpu_smoke.py [--out runs/gpu-smoke] [--commit-lut] [--cpu-dry-run]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List

LUT_NAME = "{device}-c8-256x256-x8.yaml"


def _cuda_reason() -> str:
    """'' when a CUDA device is usable, else why not."""
    try:
        import torch
    except ImportError as exc:
        return f"torch is not importable ({exc})"
    if not torch.cuda.is_available():
        return f"torch {torch.__version__} sees no CUDA device (built for CUDA: {torch.version.cuda or 'no'})"
    return ""


def _preset(out: Path, dry: bool) -> Path:
    """tiny-x8 shortened to 200 supernet steps with fp16 AMP on CUDA (sampling phases scaled to fit);
    a dry run: 20 steps, bf16 autocast on the CPU."""
    import yaml

    from dcnas_deploy.presets import load_preset

    d = load_preset("tiny-x8").to_dict()
    d["name"] = "tiny-x8-gpu-smoke"
    d["data"].update(spec="synthetic:n=64,size=256", cache_samples=64)
    steps = 20 if dry else 200
    d["training"].update(steps=steps, lr_halve_every=steps // 2, checkpoint_every=steps // 2,
                         device="cpu" if dry else "cuda", amp="bf16" if dry else "fp16")
    d["sampling"].update(warmup_steps=steps // 4, refresh_every=steps // 4, refresh_paths=8 if dry else 32,
                         init_paths=16 if dry else 64)
    d["predictor"].update(init_epochs=20)
    d["search"].update(population=16, topk=4, crossovers=8, mutations=8, iterations=2 if dry else 5,
                       init_pool=200)
    d["retrain"].update(steps=5 if dry else 50, lr_halve_every=0)
    if dry:
        d["data"].update(spec="synthetic:n=8,size=256", cache_samples=8, batch_size=2, val_crops=2, val_batch=2)
    path = out / "tiny-x8-gpu-smoke.yaml"
    path.write_text(yaml.safe_dump(d, sort_keys=False))
    return path


def _median_budget(lut_path: Path) -> float:
    """The LUT's median latency over random architectures of its space (ms)."""
    import numpy as np

    from dcnas_deploy.lut.table import LUT
    from dcnas_deploy.presets import load_preset

    space = load_preset("tiny-x8").make_space()
    lut = LUT.load(lut_path)
    return float(np.median(lut.batch_latency(space.sample_genomes(5000, seed=0), space)))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("runs/gpu-smoke"))
    ap.add_argument("--commit-lut", action="store_true", help="copy the measured LUT into luts/")
    ap.add_argument("--cpu-dry-run", action="store_true", help="the same sequence on the CPU (checks the script)")
    args = ap.parse_args()
    dry = args.cpu_dry_run
    device = "cpu" if dry else "cuda"
    reason = "" if dry else _cuda_reason()
    if reason:
        print(f"gpu_smoke skipped: {reason}")
        return 0
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "DCNAS_LUTS": str(out / "luts")}
    cli = str(Path(sys.executable).with_name("dcnas-deploy"))
    times: Dict[str, float] = {}

    def stage(name: str, cmd: List[str]) -> None:
        print(f"== {name}: dcnas-deploy {' '.join(cmd)}", flush=True)
        t = time.perf_counter()
        done = subprocess.run([cli, *cmd], env=env, cwd=out)
        times[name] = round(time.perf_counter() - t, 1)
        if done.returncode:
            print(json.dumps(times))
            raise SystemExit(f"{name} failed (exit {done.returncode}) after {times[name]} s")

    lut = out / "luts" / LUT_NAME.format(device=device)
    quick = ["--quick"] if dry else []
    stage("profile", ["profile", "--device", device, "--hr", "256x256", "--scale", "8", "--width", "8",
                      "--calibrate", "3" if dry else "10", "-o", str(lut), *quick])
    preset = _preset(out, dry)
    stage("train-supernet", ["train-supernet", "--preset", str(preset), "--out", "supernet", "--no-progress"])
    budget = _median_budget(lut)
    stage("search", ["search", "--supernet", "supernet", "--device", device, "--latency", f"{budget:.3f}ms",
                     "-o", "arch.yaml", *quick])
    stage("retrain", ["train", "--arch", "arch.yaml", "--preset", str(preset), "--init", "supernet", "--supernet",
                      "supernet", "--out", "final", "--no-progress"])
    stage("export", ["export", "--model", "final/model.pt", "--target", "onnx,openvino", "-o", "export",
                     *(["--no-latency", "--check-images", "1"] if dry else [])])
    summary = {"stages_s": times, "total_s": round(sum(times.values()), 1), "budget_ms": round(budget, 3),
               "lut": str(lut)}
    (out / "gpu_smoke.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary, indent=2))
    if args.commit_lut and not dry:
        dest = Path(__file__).resolve().parents[1] / "luts" / LUT_NAME.format(device=device)
        shutil.copyfile(lut, dest)
        print(f"committed the measured LUT to {dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
