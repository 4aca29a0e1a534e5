"""How much retraining does "train once, deploy many" need? One searched architecture's Middlebury RMSE with the
supernet's weights as they are (0 steps) and after N retraining steps from them.

Each step count is its own run of the preset's `retrain` section cut to N steps (same learning rate and halving
interval: a run shorter than the interval never halves), started from the supernet's weights; --model adds an existing retrained model (e.g. a shipped
one) as a row. Scored on the 30 Middlebury pairs (never trained on) beside bicubic and JBU. Stages are reused on
a rerun. Writes OUT/retrain_steps.md and .csv.

Usage: python bench/retrain_steps.py --arch runs/rt31/ort-x8/arch.yaml [--steps 0,300,1200]
                                     [--model depth-x8-40ms-ort=3000] [--supernet supernet-x8] [--preset cpu-x8]
"""
from __future__ import annotations

import argparse
from pathlib import Path

from dcnas_deploy.fileio import atomic_write_text
from dcnas_deploy.datadirs import MIDDLEBURY
from dcnas_deploy.pipeline.stages import Stages


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", type=Path, required=True)
    ap.add_argument("--steps", default="0,300,1200")
    ap.add_argument("--model", action="append", default=[], metavar="NAME=STEPS",
                    help="an existing retrained model of the same arch and its step count")
    ap.add_argument("--supernet", default="supernet-x8")
    ap.add_argument("--preset", default="cpu-x8")
    ap.add_argument("--out", type=Path, default=Path("runs/retrain-steps"))
    args = ap.parse_args()

    from dcnas_deploy import api
    from dcnas_deploy.presets import load_preset

    stages = Stages(args.out)
    base = {"arch": args.arch.read_text(), "supernet": args.supernet, "preset": args.preset}
    models = {}
    for n in (int(x) for x in args.steps.split(",")):
        if n == 0:
            models[0] = stages.run("inherit", base, lambda: {"model": str(api.inherit(
                args.arch, args.supernet, args.out / "inherited" / "model.pt"))})["model"]
        else:
            preset = load_preset(args.preset)
            models[n] = stages.run(f"retrain-{n}", base, lambda n=n, preset=preset: api.retrain(
                args.arch, preset, args.out / f"steps-{n}", supernet=args.supernet, steps=n, progress=False).to_dict()
            )["model"]
    for item in args.model:
        name, n = item.split("=", 1)
        models[int(n)] = name
    named = {f"{n} steps": m for n, m in sorted(models.items())}
    ev = stages.run("evaluate", {**base, "models": named}, lambda: api.evaluate_models(
        named, {"middlebury": f"middlebury:{MIDDLEBURY}"}, baselines=("bicubic", "jbu"))["middlebury"])
    rows = [("retraining steps", "model", "Middlebury RMSE", "MAE")]
    rows += [(k, str(named.get(k, "")), f"{ev[k]['rmse']:.4f}", f"{ev[k]['mae']:.4f}")
             for k in (*named, "bicubic", "jbu")]
    md = [f"Arch {args.arch} from {args.supernet} (preset {args.preset}); {ev['images']} Middlebury pairs, 0-255.", "",
          "| " + " | ".join(rows[0]) + " |", "|---|---|---:|---:|"] + ["| " + " | ".join(r) + " |" for r in rows[1:]]
    atomic_write_text(args.out / "retrain_steps.md", "\n".join(md) + "\n")
    atomic_write_text(args.out / "retrain_steps.csv", "\n".join(",".join(r) for r in rows) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
