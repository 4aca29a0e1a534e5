"""How good is a searched model on a non-depth task? The task's CPU-size preset vs the classical baselines.

For one task (thermal or saliency) and its preset (thermal-x8 / saliency-x8):
  1. train the supernet on the task's procedural data,
  2. search under the space's median LUT latency on `cpu` with the closed loop (measured within budget),
  3. retrain the found architecture from scratch on the task's data,
  4. with --depth-too: also train the same architecture on depth (preset cpu-x8, procedural rooms) and apply it
     to the task's data unchanged (the paper's saliency protocol: NYU-trained models applied to DUT-OMRON),
  5. evaluate every model, bicubic, guided filter and JBU on the task's procedural test split.
Every stage leaves a record under OUT/stages and is reused on a rerun (interrupt and rerun to resume).
Prints the table and writes OUT/task_quality.md with the commands that made it.

Usage: python bench/task_quality.py --task thermal|saliency|pansharpening [--device cpu] [--out runs/task-T]
                                    [--depth-too] [--params 0.6M] [--images 24] [--size 256]
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any, Dict, Optional

import numpy as np

from dcnas_deploy.fileio import atomic_write_text
from dcnas_deploy.pipeline.stages import Stages
from dcnas_deploy.space import Arch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--task", required=True, choices=("thermal", "saliency", "pansharpening"))
    ap.add_argument("--preset", help="default: thermal-x8, saliency-x8 or pansharpening-x4")
    ap.add_argument("--params", help="also a parameter budget, e.g. 0.6M (Tiny-class)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", type=Path)
    ap.add_argument("--depth-too", action="store_true", help="also train the found arch on depth and apply it")
    ap.add_argument("--images", type=int, default=24)
    ap.add_argument("--size", type=int, default=256)
    args = ap.parse_args()

    from dcnas_deploy.lut.table import find_lut
    from dcnas_deploy.presets import load_preset
    from dcnas_deploy.tasks import get_task

    task = get_task(args.task)
    preset = load_preset(args.preset or ("pansharpening-x4" if args.task == "pansharpening" else f"{args.task}-x8"))
    space = preset.make_space()
    lut = find_lut(args.device, space)
    os.environ.setdefault("DCNAS_LUTS", str(lut.path.parent))
    budget = float(np.median(lut.batch_latency(space.sample_genomes(20000, seed=0), space)))
    out = args.out or Path(f"runs/task-{args.task}")
    stages = Stages(out)
    base = {"preset": preset.to_dict(), "device": args.device, "lut": str(lut.path)}

    stages.run("supernet", base, lambda: _supernet(preset, out))
    found = stages.run("search", {**base, "budget_ms": budget, "params": args.params},
                       lambda: _search(out, args.device, budget, args.params))
    arch = Arch.from_yaml(found["arch"])
    models = {f"searched, trained on {args.task}": stages.run(
        "retrain", {**base, "arch": arch.to_hex()}, lambda: _retrain(arch, preset, out / "final"))["model"]}
    if args.depth_too:
        depth = load_preset("cpu-x8")
        models["searched, trained on depth"] = stages.run(
            "retrain-depth", {**base, "depth": depth.to_dict(), "arch": arch.to_hex()},
            lambda: _retrain(arch, depth, out / "final-depth"))["model"]
    spec = f"{task.procedural}:n={args.images},size={args.size}"
    if args.task == "pansharpening":
        spec += f",bands={preset.space.target_channels}"
    ev = stages.run("evaluate", {**base, "models": models, "spec": spec},
                    lambda: _evaluate(models, preset.space.scale, spec, out / "comparisons", task))
    text = _report(args, task, preset, budget, lut, found, space.params(arch), ev, spec, stages.seconds())
    atomic_write_text(out / "task_quality.md", text)
    print(text)


def _supernet(preset, out: Path) -> Dict[str, Any]:
    from dcnas_deploy.train.supernet import train_supernet

    run = out / "supernet"
    res = train_supernet(preset, run, resume=(run / "checkpoint.pt").is_file())
    return {"steps": res["steps"], "val_start": res["val_start"], "val_end": res["val_end"], "seconds": res["elapsed_s"]}


def _search(out: Path, device: str, budget: float, params: Optional[str] = None) -> Dict[str, Any]:
    from dcnas_deploy.search.constraints import build_constraints
    from dcnas_deploy.search.evolution import SearchSettings
    from dcnas_deploy.search.inputs import load_supernet_inputs
    from dcnas_deploy.search.run import search_architecture

    inputs = load_supernet_inputs(out / "supernet")
    cons = build_constraints(inputs.space, [f"{budget}ms"], [device], params=params)
    pred = inputs.predictor
    res = search_architecture(inputs.space, cons, inputs.fitness, out / "searched.yaml",
                              SearchSettings.from_section(inputs.preset.search),
                              "evolution+predictor" if pred is not None else "evolution",
                              inputs.scorer(pred.tau_hi) if pred is not None else None, seed=0,
                              provenance={"supernet": str(out / "supernet")}, fitness_key=inputs.fitness_key)
    measured = [t for t in res.verification.tried if t["accepted"]][0]["devices"][device]
    return {"arch": str(res.arch_path), "genome": res.arch.to_hex(), "lut_ms": measured["lut_ms"],
            "measured_ms": measured["measured"]["median_ms"], "tried": len(res.verification.tried)}


def _retrain(arch: Arch, preset, run: Path) -> Dict[str, Any]:
    from dcnas_deploy.train.retrain import train_arch

    res = train_arch(arch, preset, run, init="scratch", resume=(run / "checkpoint.pt").is_file())
    return {"model": str(res["model"])}


def _evaluate(models: Dict[str, str], scale: int, spec: str, images: Path, task) -> Dict[str, Any]:
    from dcnas_deploy.data.evaluation import evaluate
    from dcnas_deploy.data.registry import open_dataset
    from dcnas_deploy.upsamplers import create_upsampler

    ds = open_dataset(spec, split="test")
    specs = {**models, **{b: b for b in dict.fromkeys([*task.baselines, "guided-filter", "jbu"])}}
    res = {}
    for i, (name, s) in enumerate(specs.items()):
        save = images if i == 0 else None  # side-by-side PNGs of the first (trained) model
        up = create_upsampler(s, scale, guide_bands=task.guide_channels)
        res[name] = evaluate(up, ds, scale, model_name=name, save_images=save).mean()
    return {"means": {k: {m: float(v) for m, v in r.items()} for k, r in res.items()}, "unit": ds.protocol.unit,
            "images": len(ds)}


def _report(args, task, preset, budget, lut, found, params, ev, spec, seconds) -> str:
    """Markdown table with what made it."""
    from dcnas_deploy.tasks import HIGHER_IS_BETTER

    cols = list(task.metrics)
    arrows = [f"{m} {'↑' if HIGHER_IS_BETTER[m] else '↓'}" for m in cols]
    lines = [f"# {task.name} ×{preset.space.scale}: searched model vs baselines on `{spec}` (test split, "
             f"{ev['images']} images)", "",
             f"Preset {preset.name}; budget {budget:.2f} ms = median LUT latency on {args.device} "
             f"({lut.path.name}); searched: LUT {found['lut_ms']:.2f} ms, measured {found['measured_ms']:.2f} ms, "
             f"{params:,} params.", "",
             "| model | " + " | ".join(arrows) + " |", "|---|" + "---:|" * len(cols)]
    for name, m in ev["means"].items():
        lines.append(f"| {name} | " + " | ".join(f"{m[c]:.4f}" for c in cols) + " |")
    lines += ["", f"RMSE/MAE in {ev['unit']}; PSNR/SSIM with the protocol's peak.",
              "Stage times (s): " + ", ".join(f"{k} {v:.0f}" for k, v in seconds.items()), "",
              "Made by: `python bench/task_quality.py " + " ".join(sys.argv[1:]) + "`"]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
