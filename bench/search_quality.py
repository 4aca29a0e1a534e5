"""Is the searched model better than a hand-designed one of equal or greater measured latency?

At one latency budget on one device (default: the median LUT latency of the space on `cpu`):
  1. train a supernet (preset, synthetic data only: the Middlebury test images are never seen),
  2. search under the budget with the closed loop (the result measures within budget on the device),
  3. pick the hand-designed baseline: every slot `k3e4`, depth 2, all `concat_pw` if it measures at least
     as slow as the searched model, else the next uniform design (by LUT latency) that does,
  4. retrain both from scratch with the same preset `retrain` section,
  5. evaluate both, bicubic, guided filter and JBU on Middlebury at the preset's scale (30 images).
Every stage leaves a record under OUT/stages and is reused on a rerun (interrupt and rerun to resume).
Prints the table and writes OUT/search_quality.md with the commands that made it.

Usage: python bench/search_quality.py [--device cpu] [--preset cpu-x8] [--out runs/search-quality]
                                      [--budget 40ms] [--images 30]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Dict, List

import numpy as np

from dcnas_deploy.fileio import atomic_write_text
from dcnas_deploy.datadirs import MIDDLEBURY
from dcnas_deploy.pipeline.stages import Stages
from dcnas_deploy.space import Arch
from dcnas_deploy.space.genes import EXPANDS, KERNELS, SLOTS

BASELINE = ("k3e4", 2, "concat_pw")


def uniform_ladder() -> List[Arch]:
    """The issue's baseline first, then every other uniform design with concat_pw fusions."""
    rest = [Arch.uniform(f"k{k}e{e}", d, "concat_pw") for k in KERNELS for e in EXPANDS for d in range(1, SLOTS + 1)]
    first = Arch.uniform(*BASELINE)
    return [first] + [a for a in rest if a != first]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--preset", default="cpu-x8")
    ap.add_argument("--out", type=Path, default=Path("runs/search-quality"))
    ap.add_argument("--budget", help="latency budget (default: the space's median LUT latency)")
    ap.add_argument("--images", type=int, default=30)
    ap.add_argument("--middlebury", type=Path, default=MIDDLEBURY)
    args = ap.parse_args()

    from dcnas_deploy import api
    from dcnas_deploy.costs import parse_latency
    from dcnas_deploy.presets import load_preset
    from dcnas_deploy.runtimes.protocol import Protocol

    preset = load_preset(args.preset)
    space = preset.make_space()
    lut = api.host_lut(args.device, space, on_note=print)  # this host's table, as `search` holds budgets against
    lat = lut.batch_latency(space.sample_genomes(20000, seed=0), space)
    budget = parse_latency(args.budget) if args.budget else float(np.median(lat))
    out = args.out
    stages = Stages(out)
    base = {"preset": preset.to_dict(), "device": args.device, "lut": str(lut.path)}

    stages.run("supernet", base, lambda: api.train_supernet(preset, out / "supernet").to_dict())
    found = stages.run("search", {**base, "budget_ms": budget}, lambda: _search(out, args.device, budget, lut.file))
    searched = Arch.from_yaml(found["arch"])
    device = _device_profile(space, args.device, budget)
    hand = stages.run("baseline", {**base, "searched": found},
                      lambda: _baseline(space, lut, device, found["measured_ms"], Protocol()))
    models: Dict[str, Any] = {}
    for name, arch in (("searched", searched), ("hand-designed", Arch.from_hex(hand["genome"]))):
        models[name] = stages.run(f"retrain-{name}", {**base, "arch": arch.to_hex()},
                                  lambda a=arch, n=name: api.retrain(a, preset, out / n, init="scratch").to_dict())["model"]
    ev = stages.run("evaluate", {**base, "models": models, "n": args.images, "mb": str(args.middlebury)},
                    lambda: _evaluate(models, preset.space.scale, args.middlebury, args.images))
    rows = [("searched", found["measured_ms"], space.params(searched), ev["searched"]),
            (f"hand-designed ({hand['name']})", hand["measured_ms"], hand["params"], ev["hand-designed"])]
    rows += [(m, None, 0, ev[m]) for m in ("bicubic", "guided-filter", "jbu")]
    text = _report(args, preset, budget, lut, found, hand, rows, ev["unit"], stages.seconds())
    atomic_write_text(out / "search_quality.md", text)
    print(text)


def _device_profile(space, name: str, budget: float):
    """The device profile with the LUT's thread count: measured the way the closed loop measures."""
    from dcnas_deploy.search.constraints import build_constraints

    return build_constraints(space, [f"{budget}ms"], [name])[0].device


def _search(out: Path, device: str, budget: float, lut: Path) -> Dict[str, Any]:
    from dcnas_deploy import api

    res = api.search(api.SearchRequest(supernet=out / "supernet", out=out / "searched.yaml", latency=[f"{budget}ms"],
                                       devices=[device], luts={device: lut}), on_note=print)
    measured = res.chosen_on_device[device]
    return {"arch": str(res.arch_path), "genome": res.genome, "lut_ms": measured["lut_ms"],
            "measured_ms": measured["measured"]["median_ms"], "supernet_val_rmse": res.val_rmse,
            "tried": len(res.closed_loop)}


def _baseline(space, lut, device, searched_ms: float, protocol) -> Dict[str, Any]:
    """First design of the ladder (issue's baseline first, then by LUT latency) measuring ≥ the searched model."""
    from dcnas_deploy.runtimes.modules import measure_arch

    ladder = uniform_ladder()
    predicted = dict(zip(ladder, lut.batch_latency(np.stack([a.array() for a in ladder]), space)))
    first = ladder[0]
    floor = max(predicted[first], 0.9 * searched_ms)  # skip designs the LUT already calls faster
    rest = sorted((a for a in ladder[1:] if predicted[a] >= floor), key=predicted.get)
    tried = []
    for arch in [first] + rest:
        ms = measure_arch(space, arch, device, protocol).median_ms
        tried.append({"name": arch.meta["hand_designed"], "lut_ms": float(predicted[arch]), "measured_ms": ms})
        if ms >= searched_ms:
            return {**tried[-1], "genome": arch.to_hex(), "params": space.params(arch), "tried": tried}
    sys.exit(f"no uniform design measured ≥ {searched_ms:.2f} ms (tried {len(tried)}); lower the budget")


def _evaluate(models: Dict[str, str], scale: int, middlebury: Path, n: int) -> Dict[str, Any]:
    from dcnas_deploy import api

    return api.evaluate_models(models, {"middlebury": f"middlebury:{middlebury}"}, scale, limit=n)["middlebury"]


def _report(args, preset, budget, lut, found, hand, rows, unit, seconds) -> str:
    """Markdown table with what made it."""
    lines = [f"# Search quality: {args.device}, budget {budget:.2f} ms, Middlebury x{preset.space.scale} "
             f"({args.images} images), preset {preset.name}", "",
             f"LUT: {lut.path.name} (host {lut.provenance.get('host', {}).get('cpu', '?')}); budget = "
             + ("given" if args.budget else "median LUT latency of 20,000 random paths"), "",
             "| model | measured latency (ms) | params | RMSE | MAE |", "|---|---:|---:|---:|---:|"]
    for name, ms, params, m in rows:
        lines.append(f"| {name} | {'' if ms is None else f'{ms:.2f}'} | {params:,} | {m['rmse']:.3f} | {m['mae']:.3f} |")
    lines += ["", f"RMSE/MAE in {unit}. Searched: LUT {found['lut_ms']:.2f} ms, measured {found['measured_ms']:.2f} ms "
              f"({found['tried']} candidate(s) measured by the closed loop). Hand-designed candidates measured: "
              + ", ".join(f"{t['name']} {t['measured_ms']:.2f} ms" for t in hand["tried"]) + ".",
              "Both retrained from scratch with the preset's retrain section on synthetic scenes only.", "",
              "Stage times (s): " + ", ".join(f"{k} {v:.0f}" for k, v in seconds.items()), "",
              "Made by: `python bench/search_quality.py " + " ".join(sys.argv[1:]) + "`"]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
