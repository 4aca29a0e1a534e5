"""Train, search, retrain, score and ship a pretrained depth model (and its supernet) with a CPU preset.

The recipe behind the shipped `depth-x4` / `depth-x8` models and the `supernet-x8` that `search` falls back on:
  1. train the preset's supernet (predictor-guided sampling, procedural data only),
  2. fit a fresh predictor on --predictor-paths paths scored with the final weights (the one refreshed during
     training ranks poorly: README, search ablations), then search under the preset's budget (params ≤ 0.6M:
     Tiny-class) with the EA it initialises (or --strategy, --search-seed, --predictor),
  3. retrain the winner starting from its supernet weights (the preset's `retrain` section),
  4. score it, bicubic, guided filter and JBU on the 30 Middlebury pairs (never trained on) with the published
     bicubic LR and with a simulated sensor LR (`sensorlr:`), and on the procedural test scenes,
  5. write dcnas_deploy/pretrained/NAME/ (weights, card.yaml with every figure above) and, with
     --ship-supernet, the slimmed supernet.
Each stage leaves a record under OUT/stages and is reused on a rerun (interrupt and rerun to resume; the
training stages resume from their checkpoints).

Usage: python bench/train_pretrained.py --preset cpu-x8 --name depth-x8 [--ship-supernet supernet-x8]
                                        [--default-supernet] [--out runs/pretrained-x8] [--ship-root DIR]
                                        [--strategy evolution] [--search-seed N] [--predictor FILE]
                                        [--predictor-paths 1000]
"""
from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path
from typing import Any, Dict, Optional

from dcnas_deploy.pipeline.demo import MIDDLEBURY
from dcnas_deploy.pipeline.stages import Stages
from dcnas_deploy.space import Arch

BASELINES = ("bicubic", "guided-filter", "jbu")


def _supernet(preset, run: Path) -> Dict[str, Any]:
    from dcnas_deploy.train.supernet import train_supernet

    res = train_supernet(preset, run, resume=(run / "checkpoint.pt").is_file())
    return {"steps": res["steps"], "val_start": res["val_start"], "val_end": res["val_end"], "seconds": res["elapsed_s"]}


def _search(run: Path, arch_path: Path, strategy: Optional[str], seed: int, predictor: Optional[Path]) -> Dict[str, Any]:
    from dcnas_deploy.search.constraints import size_constraints
    from dcnas_deploy.search.evolution import SearchSettings
    from dcnas_deploy.search.inputs import load_supernet_inputs
    from dcnas_deploy.search.run import search_architecture

    inputs = load_supernet_inputs(run, predictor)
    s = inputs.preset.search
    budgets = dict(s.constraints)
    if any(k.startswith("latency") for k in budgets):
        sys.exit("this recipe searches under params/MACs budgets only (no device timing while it trains); "
                 f"the preset asks for {budgets}")
    cons = size_constraints(inputs.space, budgets)
    strategy = strategy or ("evolution+predictor" if inputs.predictor is not None else "evolution")
    if strategy == "evolution+predictor" and inputs.predictor is None:
        sys.exit(f"--strategy evolution+predictor needs a predictor: {run} has no predictor.pt (give --predictor)")
    sources = {"supernet": str(run), **({"predictor": str(predictor)} if predictor else {})}
    res = search_architecture(inputs.space, cons, inputs.fitness, arch_path, SearchSettings.from_section(s), strategy,
                              inputs.scorer_for(cons), seed=seed, verify=False, provenance=sources,
                              fitness_key=inputs.fitness_key)
    return {"arch": str(res.arch_path), "genome": res.arch.to_hex(), "strategy": strategy, "seed": seed,
            "supernet_val_rmse": res.arch.meta["search"]["val_rmse"], "params": inputs.space.params(res.arch)}


def _fit_predictor(run: Path, paths: int) -> Dict[str, Any]:
    from dcnas_deploy.train.predictor_runs import fit_on_run

    rep = fit_on_run(run, "hinge", paths=paths, holdout=0.25)
    return {"predictor": str(rep.path), "fit_paths": rep.train_paths, "heldout": rep.heldout}


def _retrain(arch: Arch, preset, run: Path, supernet: Path) -> Dict[str, Any]:
    from dcnas_deploy.train.retrain import train_arch

    res = train_arch(arch, preset, run, init="supernet", supernet=supernet,
                     resume=(run / "checkpoint.pt").is_file())
    return {"model": str(res["model"]), "val_rmse": res.get("val_rmse"), "seconds": res.get("elapsed_s")}


def _evaluate(model: str, scale: int) -> Dict[str, Any]:
    from dcnas_deploy.data.evaluation import evaluate
    from dcnas_deploy.data.registry import open_dataset
    from dcnas_deploy.upsamplers import create_upsampler

    sets = {"middlebury": f"middlebury:{MIDDLEBURY}", "middlebury_sensor_lr": f"sensorlr:middlebury:{MIDDLEBURY}",
            "synthetic": "synthetic:n=24,size=256"}
    out: Dict[str, Any] = {}
    for key, spec in sets.items():
        ds = open_dataset(spec, split="test")
        rows = {}
        for name in ("ours", *BASELINES):
            m = evaluate(create_upsampler(model if name == "ours" else name, scale), ds, scale).mean()
            rows[name] = {k: round(float(v), 4) for k, v in m.items() if k in ("rmse", "mae", "psnr")}
        out[key] = {"data": spec.replace(str(MIDDLEBURY), "../shared/data/middlebury"), "images": len(ds),
                    "unit": ds.protocol.unit, **rows}
    return out


def _host() -> str:
    """CPU model, family/model, ISA highlights, cores and date: where the figures on the card were measured."""
    from dcnas_deploy.runtimes.host import host_info

    f = host_info(runtimes=())["cpu_facts"]
    isa = ", ".join(x for x in f.get("isa", []) if x in ("avx2", "avx512f", "avx512_vnni", "amx_tile"))
    return (f"{f.get('cpu_vendor')} family {f.get('cpu_family')} model {f.get('cpu_model')} ({f.get('cpu_name')}; "
            f"{isa}), {f.get('cores')} cores, {platform.machine()}, {time.strftime('%Y-%m-%d')}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="cpu-x8")
    ap.add_argument("--name", default="depth-x8", help="shipped model name")
    ap.add_argument("--ship-supernet", default="", help="also ship the supernet under this name")
    ap.add_argument("--default-supernet", action="store_true",
                    help="mark the shipped supernet as the one `search` takes when no run is under runs/")
    ap.add_argument("--out", type=Path, default=None, help="run folder (default runs/pretrained-NAME)")
    ap.add_argument("--ship-root", type=Path, default=None, help="where to ship (default: the package's pretrained/)")
    ap.add_argument("--strategy", choices=("evolution+predictor", "evolution", "random"), default=None,
                    help="search strategy (default: evolution+predictor when the supernet has a predictor)")
    ap.add_argument("--search-seed", type=int, default=0)
    ap.add_argument("--predictor", type=Path, default=None, help="predictor file (default: one fitted here)")
    ap.add_argument("--predictor-paths", type=int, default=1000,
                    help="paths scored to fit the search's predictor (0: the supernet's training-time predictor)")
    args = ap.parse_args()

    from dcnas_deploy.presets import load_preset
    from dcnas_deploy.pretrained import PRETRAINED_DIR
    from dcnas_deploy.train.ship_pretrained import ship_model, ship_supernet

    preset = load_preset(args.preset)
    out = args.out or Path(f"runs/pretrained-{args.name}")
    root = args.ship_root or PRETRAINED_DIR
    stages = Stages(out)
    base = {"preset": preset.to_dict()}
    sup = stages.run("supernet", base, lambda: _supernet(preset, out / "supernet"))
    predictor = args.predictor
    if predictor is None and args.predictor_paths > 0 and args.strategy in (None, "evolution+predictor"):
        fitted = stages.run("predictor", {**base, "paths": args.predictor_paths},
                            lambda: _fit_predictor(out / "supernet", args.predictor_paths))
        predictor = Path(fitted["predictor"])
    how = {k: v for k, v in (("strategy", args.strategy), ("seed", args.search_seed),
                              ("predictor", str(predictor or ""))) if v}  # unset ones leave the key as it was
    found = stages.run("search", {**base, **how},
                       lambda: _search(out / "supernet", out / "arch.yaml", args.strategy, args.search_seed,
                                       predictor))
    arch = Arch.from_yaml(found["arch"])
    model = stages.run("retrain", {**base, "arch": found["genome"]},
                       lambda: _retrain(arch, preset, out / "model", out / "supernet"))
    scores = stages.run("evaluate", {**base, "model": model["model"]},
                        lambda: _evaluate(model["model"], preset.space.scale))
    secs = stages.seconds()
    card = {"description": f"depth ×{preset.space.scale}, searched in the DCNAS-Tiny space (width "
                           f"{preset.space.width}) under {dict(preset.search.constraints)} and retrained from its "
                           f"supernet weights; procedural training data only",
            "task": "depth", "scale": preset.space.scale, "params": found["params"], "arch": found["genome"],
            "preset": preset.name, "data": preset.data.spec,
            "training": {"supernet_steps": sup["steps"], "retrain_steps": preset.retrain.steps,
                         "search": found["strategy"], "search_seed": found.get("seed", 0), "minutes": {k: round(v / 60, 1) for k, v in secs.items()}},
            "metrics": scores,
            "measured_on": _host(),
            "made_by": f"python bench/train_pretrained.py --preset {args.preset} --name {args.name}"
                       + (f" --ship-supernet {args.ship_supernet}" if args.ship_supernet else "")
                       + (" --default-supernet" if args.default_supernet else "")
                       + (f" --strategy {args.strategy}" if args.strategy else "")
                       + (f" --search-seed {args.search_seed}" if args.search_seed else "")
                       + (f" --predictor {args.predictor}" if args.predictor else "")
                       + (f" --predictor-paths {args.predictor_paths}" if args.predictor_paths != 1000 else "")}
    dest = ship_model(Path(model["model"]), args.name, card, root)
    print(f"shipped {args.name} → {dest}")
    if args.ship_supernet:
        scard = {"description": f"supernet of preset {preset.name} (DCNAS-Tiny space, width {preset.space.width}, "
                                f"×{preset.space.scale}, costed at {preset.space.hr_size}); `search` uses it when "
                                f"no supernet run is under runs/",
                 "default": bool(args.default_supernet), "scale": preset.space.scale,
                 "space": preset.to_dict()["space"], "preset": preset.name, "data": preset.data.spec,
                 "val": {"metric": preset.data.metric, "start": sup["val_start"].get("val"),
                         "end": sup["val_end"].get("val")}, "made_by": card["made_by"]}
        dest = ship_supernet(out / "supernet", args.ship_supernet, scard, root, predictor=predictor)
        print(f"shipped {args.ship_supernet} → {dest}")
    for key, res in scores.items():
        print(f"{key} ({res['images']} images, {res['unit']}): " + ", ".join(
            f"{n} {res[n]['rmse']:.3f}/{res[n]['mae']:.3f}" for n in ("ours", *BASELINES)) + "  (RMSE/MAE)")


if __name__ == "__main__":
    main()
