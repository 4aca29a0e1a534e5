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

    from dcnas_deploy import api
    from dcnas_deploy.presets import load_preset
    from dcnas_deploy.tasks import get_task

    task = get_task(args.task)
    preset = load_preset(args.preset or ("pansharpening-x4" if args.task == "pansharpening" else f"{args.task}-x8"))
    space = preset.make_space()
    lut = api.host_lut(args.device, space, on_note=print)  # this host's table, as `search` holds budgets against
    budget = float(np.median(lut.batch_latency(space.sample_genomes(20000, seed=0), space)))
    out = args.out or Path(f"runs/task-{args.task}")
    stages = Stages(out)
    base = {"preset": preset.to_dict(), "device": args.device, "lut": str(lut.path)}

    stages.run("supernet", base, lambda: api.train_supernet(preset, out / "supernet").to_dict())
    found = stages.run("search", {**base, "budget_ms": budget, "params": args.params},
                       lambda: _search(out, args.device, budget, lut.file, args.params))
    arch = Arch.from_yaml(found["arch"])
    models = {f"searched, trained on {args.task}": stages.run(
        "retrain", {**base, "arch": arch.to_hex()}, lambda: api.retrain(arch, preset, out / "final", init="scratch").to_dict())["model"]}
    if args.depth_too:
        depth = load_preset("cpu-x8")
        models["searched, trained on depth"] = stages.run(
            "retrain-depth", {**base, "depth": depth.to_dict(), "arch": arch.to_hex()},
            lambda: api.retrain(arch, depth, out / "final-depth", init="scratch").to_dict())["model"]
    spec = f"{task.procedural}:n={args.images},size={args.size}"
    if args.task == "pansharpening":
        spec += f",bands={preset.space.target_channels}"
    ev = stages.run("evaluate", {**base, "models": models, "spec": spec},
                    lambda: _evaluate(models, preset.space.scale, spec, out / "comparisons", task))
    text = _report(args, task, preset, budget, lut, found, space.params(arch), ev, spec, stages.seconds())
    atomic_write_text(out / "task_quality.md", text)
    print(text)


def _search(out: Path, device: str, budget: float, lut: Path, params: Optional[str] = None) -> Dict[str, Any]:
    from dcnas_deploy import api

    res = api.search(api.SearchRequest(supernet=out / "supernet", out=out / "searched.yaml", latency=[f"{budget}ms"],
                                       devices=[device], params=params, luts={device: lut}), on_note=print)
    measured = res.chosen_on_device[device]
    return {"arch": str(res.arch_path), "genome": res.genome, "lut_ms": measured["lut_ms"],
            "measured_ms": measured["measured"]["median_ms"], "tried": len(res.closed_loop)}


def _evaluate(models: Dict[str, str], scale: int, spec: str, images: Path, task) -> Dict[str, Any]:
    from dcnas_deploy import api

    baselines = [b for b in dict.fromkeys([*task.baselines, "guided-filter", "jbu"])]
    ev = api.evaluate_models(models, {"test": spec}, scale, baselines, guide_bands=task.guide_channels,
                             save_images=images)["test"]
    return {"means": {k: v for k, v in ev.items() if isinstance(v, dict)}, "unit": ev["unit"], "images": ev["images"]}


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
