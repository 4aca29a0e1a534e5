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

A real-time model for one device instead: --supernet supernet-x8 --latency 40ms --device cpu-tflite searches the
shipped supernet under that device's LUT (closed loop on), retrains from it and records the measured speed.
Every card carries `speed` (device, host fingerprint, date, median/p10/p90 ms, fps) and `budget`.

Usage: python bench/train_pretrained.py --preset cpu-x8 --name depth-x8 [--ship-supernet supernet-x8]
                                        [--default-supernet] [--out runs/pretrained-x8] [--ship-root DIR]
                                        [--strategy evolution] [--search-seed N] [--predictor FILE]
                                        [--predictor-paths 1000]
       python bench/train_pretrained.py --preset cpu-x8 --name tflite-x8-40ms --supernet supernet-x8 \\
                                        --latency 40ms --device cpu-tflite [--steps 3000]
"""
from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

from dcnas_deploy.datadirs import MIDDLEBURY
from dcnas_deploy.pipeline.stages import Stages

def _search(run: Path, arch_path: Path, strategy: Optional[str], seed: int, predictor: Optional[Path],
            latency: Optional[str], device: Optional[str], hr: Optional[Tuple[int, int]]) -> Dict[str, Any]:
    from dcnas_deploy import api

    req = api.SearchRequest(supernet=run, out=arch_path, strategy=strategy, seed=seed, predictor=predictor,
                            latency=[latency] if latency else [], devices=[device] if device else [], hr=hr,
                            verify=bool(latency))  # size budgets need no closed loop
    res = api.search(req, on_note=lambda line: print(f"note: {line}"))
    return {**res.to_dict(), "seed": seed, "supernet_val_rmse": res.val_rmse}


def _fit_predictor(run: Path, paths: int) -> Dict[str, Any]:
    from dcnas_deploy.train.predictor_runs import fit_on_run

    rep = fit_on_run(run, "hinge", paths=paths, holdout=0.25)
    return {"predictor": str(rep.path), "fit_paths": rep.train_paths, "heldout": rep.heldout}


def _retrain(arch: Path, preset, run: Path, supernet: Path) -> Dict[str, Any]:
    from dcnas_deploy import api

    return api.retrain(arch, preset, run, supernet=supernet).to_dict()


def _evaluate(model: str) -> Dict[str, Any]:
    from dcnas_deploy import api

    sets = {k: v.format(mb=MIDDLEBURY) for k, v in api.CARD_SETS.items()}
    scores = api.evaluate_model(model, sets)
    for rows in scores.values():
        rows["data"] = rows["data"].replace(str(MIDDLEBURY), "../shared/data/middlebury")
        for name in ("ours", *api.BASELINES):
            rows[name] = {k: rows[name][k] for k in ("rmse", "mae", "psnr")}
    return scores


def _speed(model: str, device: str, name: str, hr: Optional[Tuple[int, int]]) -> Dict[str, Any]:
    from dcnas_deploy import api

    speed = api.measure_speed(model, device, hr)
    hw = "x".join(str(v) for v in speed.hr)
    return {**speed.to_dict(), "command": f"dcnas-deploy benchmark {name} --device {device} --hr {hw}"}


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
    ap.add_argument("--supernet", default="", help="start from this supernet (a shipped name such as supernet-x8, or "
                                                   "a run folder) instead of training the preset's")
    ap.add_argument("--latency", default="", help="search under this latency budget (40ms) on --device instead of "
                                                  "the preset's budgets; the closed loop re-measures the winner")
    ap.add_argument("--device", default="", help="device of --latency, and where the card's speed is measured")
    ap.add_argument("--hr", default="", help="deployment HR size HxW the budget and the card's speed are at "
                                             "(default: the supernet's)")
    ap.add_argument("--speed-device", default="cpu-openvino",
                    help="where the card's speed is measured when there is no --latency (default cpu-openvino)")
    ap.add_argument("--steps", type=int, default=None, help="retraining steps (default: the preset's)")
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
    if bool(args.latency) != bool(args.device):
        sys.exit("--latency and --device go together (a budget is in one device's milliseconds)")

    from dcnas_deploy import api
    from dcnas_deploy.presets import load_preset
    from dcnas_deploy.pretrained import PRETRAINED_DIR
    from dcnas_deploy.train.ship_pretrained import ship_model, ship_supernet

    from dcnas_deploy.space import parse_hw

    hr = parse_hw(args.hr) if args.hr else None
    preset = load_preset(args.preset)
    if args.steps:
        preset = preset.with_overrides({"retrain.steps": args.steps})
    out = args.out or Path(f"runs/pretrained-{args.name}")
    root = args.ship_root or PRETRAINED_DIR
    stages = Stages(out)
    base = {"preset": preset.to_dict()}
    if args.supernet:
        from dcnas_deploy.train.rundir import RunDir

        run = api.resolve_supernet_run(args.supernet)
        sup: Dict[str, Any] = {"run": str(run), "given": args.supernet,
                               "steps": int(RunDir(run).load_checkpoint().get("step", 0))}
    else:
        run = out / "supernet"
        sup = stages.run("supernet", base, lambda: api.train_supernet(preset, run).to_dict())
    predictor = args.predictor
    if predictor is None and not args.supernet and args.predictor_paths > 0 \
            and args.strategy in (None, "evolution+predictor"):
        fitted = stages.run("predictor", {**base, "paths": args.predictor_paths},
                            lambda: _fit_predictor(run, args.predictor_paths))
        predictor = Path(fitted["predictor"])
    how = {k: v for k, v in (("strategy", args.strategy), ("seed", args.search_seed),
                              ("predictor", str(predictor or "")), ("supernet", args.supernet),
                              ("latency", args.latency), ("device", args.device), ("hr", args.hr))
           if v}  # unset: key as it was
    found = stages.run("search", {**base, **how},
                       lambda: _search(run, out / "arch.yaml", args.strategy, args.search_seed, predictor,
                                       args.latency or None, args.device or None, hr))
    model = stages.run("retrain", {**base, "arch": found["genome"], "supernet": str(run)},
                       lambda: _retrain(Path(found["arch"]), preset, out / "model", run))
    scores = stages.run("evaluate", {**base, "model": model["model"]}, lambda: _evaluate(model["model"]))
    speed_device = args.device or args.speed_device
    speed = stages.run("speed", {"model": model["model"], "device": speed_device, **({"hr": args.hr} if hr else {})},
                       lambda: _speed(model["model"], speed_device, args.name, hr))
    secs = stages.seconds()
    budget = {"latency": args.latency, "device": args.device, **({"hr": args.hr} if hr else {})} if args.latency \
        else dict(preset.search.constraints)
    under = f"{args.latency} on {args.device}" + (f" at {args.hr}" if hr else "") if args.latency \
        else str(dict(preset.search.constraints))
    card = {"description": f"depth ×{preset.space.scale}, searched in the DCNAS-Tiny space (width "
                           f"{preset.space.width}) under {under} and retrained from its supernet weights; "
                           f"procedural training data only",
            "task": "depth", "scale": preset.space.scale, "params": found["params"], "macs": found["macs"],
            "arch": found["genome"], "preset": preset.name, "data": preset.data.spec, "budget": budget,
            "speed": speed,
            "training": {"supernet": sup.get("given") or str(run), "supernet_steps": sup.get("steps"),
                         "retrain_steps": preset.retrain.steps, "search": found["strategy"],
                         "search_seed": found.get("seed", 0),
                         "closed_loop": {d: {k: v.get(k) for k in ("lut_ms", "decided_ms", "budget_ms")}
                                         | {"raw_ms": v["measured"]["median_ms"]}
                                         for d, v in (found.get("chosen_on_device") or {}).items()} or None,
                         "minutes": {k: round(v / 60, 1) for k, v in secs.items()}},
            "metrics": scores,
            "measured_on": _host(),
            "made_by": " ".join(["python bench/train_pretrained.py", *sys.argv[1:]])}
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
        dest = ship_supernet(run, args.ship_supernet, scard, root, predictor=predictor)
        print(f"shipped {args.ship_supernet} → {dest}")
    print(f"speed on {speed['device']}: {speed['median_ms']:.2f} ms median ({speed['fps']:.1f} fps)")
    for key, res in scores.items():
        print(f"{key} ({res['images']} images, {res['unit']}): " + ", ".join(
            f"{n} {res[n]['rmse']:.3f}/{res[n]['mae']:.3f}" for n in ("ours", *api.BASELINES)) + "  (RMSE/MAE)")


if __name__ == "__main__":
    main()
