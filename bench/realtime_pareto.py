"""Latency vs quality on one runtime: searched models at 20 / 40 / 80 ms against a hand design and classical upsamplers.

For each budget (and --seeds searches at 40 ms) on --device:
  1. search the shipped supernet under that device's LUT of this host (closed loop on), as `search --latency` does,
  2. the hand design: the uniform network of the space (every slot the same block, one fusion everywhere) with the
     largest LUT latency within the budget,
  3. retrain each from the supernet weights for --steps steps (the preset's `retrain` section otherwise),
  4. time each retrained model end to end on the device, in the graph its export runs (api.measure_speed), and score
     it on the 30 Middlebury pairs (never trained on); bicubic, guided filter and JBU timed on the same input size.
Stages are recorded under OUT/stages and reused on a rerun. Writes OUT/pareto.csv, OUT/pareto.png, OUT/pareto.md.

Usage: python bench/realtime_pareto.py --device cpu-tflite [--budgets 20,40,80] [--seeds 3] [--steps 300]
                                       [--supernet supernet-x8] [--preset cpu-x8] [--out runs/pareto-cpu-tflite]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Dict, List

import numpy as np

from dcnas_deploy.fileio import atomic_write_text
from dcnas_deploy.datadirs import MIDDLEBURY
from dcnas_deploy.pipeline.stages import Stages
from dcnas_deploy.space import Arch
from dcnas_deploy.space.genes import EXPANDS, KERNELS, SLOTS

FUSIONS = ("concat_pw", "sum", "attention")


def uniform_designs() -> List[Arch]:
    """Every uniform network of the space with a guided fusion (the hand designs a person would try first)."""
    return [Arch.uniform(f"k{k}e{e}", d, f) for k in KERNELS for e in EXPANDS for d in range(1, SLOTS + 1)
            for f in FUSIONS]


def hand_design(lut, space, budget_ms: float) -> Dict[str, Any]:
    """The uniform design with the largest LUT latency within the budget."""
    designs = uniform_designs()
    lat = lut.batch_latency(np.stack([a.array() for a in designs]), space)
    inside = [i for i in np.argsort(lat) if lat[i] <= budget_ms]
    if not inside:
        sys.exit(f"no uniform design within {budget_ms} ms on this LUT (cheapest {lat.min():.1f} ms)")
    best = designs[inside[-1]]
    return {"genome": best.to_hex(), "name": best.meta.get("hand_designed", ""), "lut_ms": float(lat[inside[-1]])}


def baseline_ms(name: str, scale: int, hr: int, runs: int = 15) -> float:
    """Median wall time of a classical upsampler on one HR×HR guide (1 image, this Python process)."""
    from dcnas_deploy.upsamplers import create_upsampler

    rng = np.random.default_rng(0)
    lr = rng.uniform(1, 3, (hr // scale, hr // scale)).astype(np.float32)
    guide = rng.uniform(0, 1, (hr, hr, 3)).astype(np.float32)
    up = create_upsampler(name, scale)
    up(lr, guide)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        up(lr, guide)
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu-tflite")
    ap.add_argument("--budgets", default="20,40,80")
    ap.add_argument("--seeds", type=int, default=3, help="search seeds at the middle budget")
    ap.add_argument("--steps", type=int, default=300, help="retraining steps per model")
    ap.add_argument("--supernet", default="supernet-x8")
    ap.add_argument("--preset", default="cpu-x8")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()

    from dcnas_deploy import api
    from dcnas_deploy.presets import load_preset

    preset = load_preset(args.preset).with_overrides({"retrain.steps": args.steps})
    space = preset.make_space()
    budgets = [float(b) for b in args.budgets.split(",")]
    middle = budgets[len(budgets) // 2]
    out = args.out or Path(f"runs/pareto-{args.device}")
    stages = Stages(out)
    lut = api.host_lut(args.device, space, on_note=print)
    base = {"device": args.device, "lut": str(lut.path), "supernet": args.supernet, "steps": args.steps}
    points: List[Dict[str, Any]] = []
    for b in budgets:
        for seed in range(args.seeds if b == middle else 1):
            found = stages.run(f"search-{b:g}ms-s{seed}", {**base, "budget": b, "seed": seed}, lambda b=b, seed=seed: api.search(
                api.SearchRequest(supernet=args.supernet, out=out / f"searched-{b:g}ms-s{seed}.yaml", latency=[f"{b}ms"],
                                  devices=[args.device], seed=seed, luts={args.device: lut.file}),
                on_note=print).to_dict())
            points.append({"kind": "searched", "budget_ms": b, "seed": seed, "genome": found["genome"],
                           "params": found["params"], "arch": found["arch"]})
        hand = stages.run(f"hand-{b:g}ms", {**base, "budget": b}, lambda b=b: hand_design(lut, space, b))
        path = out / f"hand-{b:g}ms.yaml"
        Arch.from_hex(hand["genome"]).to_yaml(path)
        points.append({"kind": "hand-designed", "name": hand["name"], "budget_ms": b, "seed": 0, "genome": hand["genome"],
                       "params": space.params(Arch.from_hex(hand["genome"])), "arch": str(path)})
    for p in points:
        tag = f"{p['kind']}-{p['budget_ms']:g}ms-s{p['seed']}"
        model = stages.run(f"retrain-{tag}", {**base, "genome": p["genome"]}, lambda p=p, tag=tag: api.retrain(
            p["arch"], preset, out / tag, supernet=args.supernet, progress=False).to_dict())["model"]
        p.update(model=model)
    for p in points:  # timed after all training, one at a time, nothing else running
        tag = f"{p['kind']}-{p['budget_ms']:g}ms-s{p['seed']}"
        sp = stages.run(f"speed-{tag}", {**base, "model": p["model"]},
                        lambda p=p: api.measure_speed(p["model"], args.device).to_dict())
        p.update(median_ms=sp["median_ms"], p10_ms=sp["p10_ms"], p90_ms=sp["p90_ms"])
    models = {f"{p['kind']}-{p['budget_ms']:g}ms-s{p['seed']}": p["model"] for p in points}
    ev = stages.run("evaluate", {**base, "models": models}, lambda: api.evaluate_models(
        models, {"middlebury": f"middlebury:{MIDDLEBURY}"}, preset.space.scale)["middlebury"])
    for p in points:
        p["rmse"] = ev[f"{p['kind']}-{p['budget_ms']:g}ms-s{p['seed']}"]["rmse"]
    hr = preset.space.hr_size[0]
    classic = stages.run("baselines", {"hr": hr, "scale": preset.space.scale}, lambda: {
        n: baseline_ms(n, preset.space.scale, hr) for n in api.BASELINES})
    for n in api.BASELINES:
        points.append({"kind": n, "budget_ms": "", "seed": "", "genome": "", "params": 0, "model": "",
                       "median_ms": round(classic[n], 3), "p10_ms": "", "p90_ms": "", "rmse": ev[n]["rmse"]})
    _write(out, points, args, lut, preset)


def _write(out: Path, points: List[Dict[str, Any]], args, lut, preset) -> None:
    """CSV, PNG (latency vs RMSE) and a markdown table."""
    from dcnas_deploy.figures import new_figure, save_png

    cols = ["kind", "budget_ms", "seed", "median_ms", "p10_ms", "p90_ms", "rmse", "params", "genome", "model"]
    lines = [",".join(cols)] + [",".join(str(p.get(c, "")) for c in cols) for p in points]
    atomic_write_text(out / "pareto.csv", "\n".join(lines) + "\n")
    fig = new_figure(figsize=(7, 4.5))
    ax = fig.add_subplot(1, 1, 1)
    for kind, marker in (("searched", "o"), ("hand-designed", "s")):
        xs = [p["median_ms"] for p in points if p["kind"] == kind]
        ys = [p["rmse"] for p in points if p["kind"] == kind]
        ax.scatter(xs, ys, marker=marker, label=kind)
    for p in points:
        if p["kind"] not in ("searched", "hand-designed"):
            ax.scatter([p["median_ms"]], [p["rmse"]], marker="x", color="grey")
            ax.annotate(p["kind"], (p["median_ms"], p["rmse"]), fontsize=8)
    for b in {p["budget_ms"] for p in points if p["budget_ms"] != ""}:
        ax.axvline(float(b), color="lightgrey", lw=0.8, zorder=0)
    ax.set_xscale("log")
    ax.set_xlabel(f"measured latency on {args.device} (ms, median, 1 image {preset.space.hr_size[0]}², log)")
    ax.set_ylabel(f"Middlebury ×{preset.space.scale} RMSE (30 pairs, 0-255)")
    ax.set_title(f"{args.device}: searched vs hand-designed ({args.steps} retraining steps each)")
    ax.legend()
    save_png(fig, out / "pareto.png")
    md = [f"Device {args.device}, LUT {lut.path}, supernet {args.supernet}, {args.steps} retraining steps each; "
          "latency of the retrained model in its runtime (median, p10–p90); classical upsamplers timed in Python.", "",
          "| model | budget | measured ms | Middlebury RMSE | params |", "|---|---:|---:|---:|---:|"]
    for p in points:
        spread = f" ({p['p10_ms']:.1f}–{p['p90_ms']:.1f})" if p["p10_ms"] != "" else ""
        label = {"searched": f"searched s{p['seed']}", "hand-designed": f"hand-designed ({p.get('name')})"}.get(
            p["kind"], p["kind"])
        md.append(f"| {label} | "
                  f"{p['budget_ms'] and str(p['budget_ms']) + ' ms'} | {p['median_ms']:.1f}{spread} | "
                  f"{p['rmse']:.3f} | {p['params']:,} |")
    atomic_write_text(out / "pareto.md", "\n".join(md) + "\n")
    print("\n".join(md))
    print(f"wrote {out / 'pareto.csv'}, {out / 'pareto.png'}, {out / 'pareto.md'}")


if __name__ == "__main__":
    main()
