"""The paper's Table IX at CPU scale: supernet training with uniform paths (SPOS) vs predictor-guided sampling per loss.

Every branch starts from the same uniform warm-up supernet (--warmup RUN; by default OUT/warmup, trained here once:
`supernet-x8`'s weights, then --warmup-steps uniform steps on the preset's data, lr halved at 2/3, as
bench/supernet_start.py's `transfer` variant; a ×4 supernet trained from a zero head stays on bicubic's plateau for
longer than a CPU bench can wait) and trains --steps more steps on the preset's data with its own path sampling:
  uniform   SPOS: one uniformly drawn path per step (the paper's Model14, no predictor)
  hinge     predictor-guided (Alg. 1: m candidates under a drawn τ, the predictor's top k trained), the predictor
            fitted with the pairwise hinge loss (eq. 17: DCNAS)
  ranknet   the same with RankNet's loss
  l1, l2    the same with a regression predictor (Model15, Model16)
A guided branch fits its first predictor on the preset's init_paths paths scored with the warm-up's weights at its
step 0 and refreshes it every --refresh-every steps. Then, per branch:
  1. its training-time predictor's Kendall τ on --heldout uniformly drawn paths (the same paths for every branch)
     scored with the branch's final weights, on all of them and on those within the search budget;
  2. plain EA under the preset's budget (same settings, seed = the branch's seed), fitness = the branch's
     validation RMSE with inherited weights;
  3. the winner retrained --retrain-steps steps from the branch's weights, scored on the 30 Middlebury pairs at the
     preset's scale (never trained on).
Each branch keeps its records in OUT/VARIANT-sSEED/stages and reuses them on a rerun (interrupt and rerun to
resume). Two shells share the work with --shard 0/2 and --shard 1/2 (results, not timings; shard 0 trains the warm-up,
the others wait for it). --report writes
OUT/table9.md and OUT/table9.png from the records present.

Usage: python bench/sampling_ablation.py [--preset cpu-x4] [--warmup RUN | --warmup-steps 600]
                                         [--variants uniform hinge l1 l2] [--seeds 3] [--steps 450]
                                         [--refresh-every 150] [--heldout 200]
                                         [--retrain-steps 200] [--shard I/N] [--report] [--out runs/sampling-ablation]
"""
from __future__ import annotations

import argparse
import csv
import json
import time
from pathlib import Path
from typing import Any, Dict, List, Tuple

import numpy as np

from dcnas_deploy.datadirs import MIDDLEBURY
from dcnas_deploy.pipeline.stages import Stages

VARIANTS = ("uniform", "hinge", "ranknet", "l1", "l2")
HELDOUT_SEED = 20261201


def branch_preset(base: Dict[str, Any], variant: str, seed: int, steps: int, lr: float, refresh_every: int,
                  retrain_steps: int, warmup: Path):
    """The preset cut to one branch: `steps` steps from the warm-up's weights with the variant's sampling."""
    from dcnas_deploy.presets import Preset

    d = json.loads(json.dumps(base))
    d["name"] = f"{d['name']}-table9-{variant}"
    d["training"].update(steps=steps, lr=lr, lr_halve_every=0, seed=seed, checkpoint_every=max(1, steps // 3),
                         init_supernet=str(warmup))
    d["sampling"].update(strategy="uniform" if variant == "uniform" else "predictor", warmup_steps=0,
                         largest_steps=0, hand_steps=0, refresh_every=refresh_every)
    if variant != "uniform":
        d["predictor"]["loss"] = variant
    d["retrain"].update(steps=retrain_steps, lr_halve_every=max(1, retrain_steps // 2))
    return Preset.from_dict(d, f"bench branch {variant}")


def warmup_preset(base: Dict[str, Any], steps: int, donor: str):
    """The shared warm-up: `donor`'s weights, then `steps` uniform steps (lr halved at 2/3, seed 0)."""
    from dcnas_deploy.presets import Preset

    d = json.loads(json.dumps(base))
    d["name"] = f"{d['name']}-table9-warmup"
    d["training"].update(steps=steps, lr_halve_every=max(1, steps * 2 // 3), seed=0, init_supernet=donor,
                         checkpoint_every=max(1, steps // 4))
    d["sampling"].update(strategy="uniform", largest_steps=0, hand_steps=0)
    return Preset.from_dict(d, "bench warm-up")


def _train(preset, run: Path) -> Dict[str, Any]:
    from dcnas_deploy import api

    res = api.train_supernet(preset, run)
    with open(run / "log.csv", newline="") as f:
        kendall = [round(float(r["pred_kendall"]), 3) for r in csv.DictReader(f) if r.get("pred_kendall") not in
                   (None, "", "nan")]
    return {"steps": res.steps, "val_start": res.val_start.get("val"), "val_end": res.val_end.get("val"),
            "refresh_kendall": kendall, "seconds": res.seconds}


def _heldout(run: Path, n: int) -> Dict[str, Any]:
    from dcnas_deploy.costs import parse_count
    from dcnas_deploy.predictor.evaluate import rank_metrics
    from dcnas_deploy.predictor.model import Predictor
    from dcnas_deploy.train.evaluate import evaluate_paths
    from dcnas_deploy.train.sampling import ConstraintSampler
    from dcnas_deploy.train.supernet import load_supernet, validation_set

    net, preset = load_supernet(run)
    genomes = net.space.sample_genomes(n, np.random.default_rng([HELDOUT_SEED, n]))  # the same for every branch
    costs = ConstraintSampler.for_preset(preset).tables.batch(genomes)
    scores = evaluate_paths(net, genomes, validation_set(preset), preset.data.metric)
    budget = float(parse_count(str(preset.search.constraints["params"])))
    inb = costs <= budget
    out: Dict[str, Any] = {"paths": n, "in_budget": int(inb.sum()), "metric": preset.data.metric,
                           "median": float(np.median(scores)), "median_in_budget": float(np.median(scores[inb])),
                           "params_kendall": rank_metrics(costs, scores)["kendall"],
                           "params_kendall_in_budget": rank_metrics(costs[inb], scores[inb])["kendall"]}
    if (run / "predictor.pt").is_file():
        pred = Predictor.load(run / "predictor.pt").score(genomes, costs)
        out.update(kendall=rank_metrics(pred, scores)["kendall"],
                   kendall_in_budget=rank_metrics(pred[inb], scores[inb])["kendall"])
    return out


def _search(run: Path, seed: int) -> Dict[str, Any]:
    """The plain EA (no predictor: the branches differ only in their weights) under the preset's budget."""
    from dcnas_deploy import api

    res = api.search(api.SearchRequest(supernet=run, out=run.parent / "arch.yaml", strategy="evolution", seed=seed,
                                       verify=False))
    return {"genome": res.genome, "val_rmse": res.val_rmse, "evaluated": int(res.arch.meta["search"]["evaluated"]),
            "params": res.params}


def _retrain_and_score(genome: str, preset, run: Path, supernet: Path) -> Dict[str, Any]:
    from dcnas_deploy import api
    from dcnas_deploy.space import Arch

    res = api.retrain(Arch.from_hex(genome), preset, run, supernet=supernet, progress=False)
    m = api.evaluate_model(res.model, {"middlebury": f"middlebury:{MIDDLEBURY}"}, preset.space.scale,
                           baselines=())["middlebury"]
    return {"model": str(res.model), "val_rmse": res.val_rmse, "images": m["images"],
            "rmse": m["ours"]["rmse"], "mae": m["ours"]["mae"]}


def run_branch(base: Dict[str, Any], variant: str, seed: int, args) -> None:
    """Train, rank, search, retrain and score one branch (each stage reused when its record exists)."""
    out = args.out / f"{variant}-s{seed}"
    preset = branch_preset(base, variant, seed, args.steps, args.lr, args.refresh_every, args.retrain_steps,
                           args.warmup)
    stages = Stages(out)
    key = {"preset": preset.to_dict()}
    stages.run("supernet", key, lambda: _train(preset, out / "supernet"))
    stages.run("heldout", {**key, "heldout": args.heldout}, lambda: _heldout(out / "supernet", args.heldout))
    found = stages.run("search", key, lambda: _search(out / "supernet", seed))
    stages.run("retrain", {**key, "genome": found["genome"]},
               lambda: _retrain_and_score(found["genome"], preset, out / "model", out / "supernet"))


def collect(out: Path, variants: List[str]) -> Dict[str, List[Dict[str, Any]]]:
    """Per variant, one dict per finished branch: its stage results merged."""
    rows: Dict[str, List[Dict[str, Any]]] = {v: [] for v in variants}
    for v in variants:
        for d in sorted(out.glob(f"{v}-s*")):
            recs = {p.stem: json.loads(p.read_text())["result"] for p in (d / "stages").glob("*.json")}
            if "retrain" in recs:
                rows[v].append({"seed": int(d.name.rsplit("-s", 1)[1]), **recs})
    return rows


def _cell(values: List[float], fmt: str = "{:.4f}") -> str:
    v = np.array([x for x in values if x is not None and np.isfinite(x)], dtype=float)
    if not len(v):
        return "—"
    return (fmt + " ({}–{})").format(v.mean(), fmt.format(v.min()), fmt.format(v.max())) if len(v) > 1 else fmt.format(v[0])


def report(out: Path, variants: List[str], args) -> str:
    """The Table IX markdown (mean (min–max) over seeds) and a per-seed plot of the retrained winners."""
    from dcnas_deploy.figures import new_figure, save_png
    from dcnas_deploy.presets import load_preset

    scale = load_preset(args.preset).space.scale
    rows = collect(out, variants)
    lines = [f"Branches of `{args.warmup}` ({args.steps} steps each, lr {args.lr:g}); held-out: {args.heldout} uniform "
             f"paths (the same for every branch); EA under the preset's budget; winners retrained {args.retrain_steps} "
             f"steps from their branch's weights; Middlebury ×{scale} RMSE/MAE (30 pairs). Mean (min–max) over "
             "seeds.", "",
             "| sampling | seeds | predictor τ, held-out | τ, held-out within budget | held-out paths in budget, median val | "
             "EA winner val RMSE (inherited) | retrained winner: Middlebury RMSE | MAE |",
             "|---|---:|---|---|---|---|---|---|"]
    for v in variants:
        r = rows[v]
        if not r:
            continue
        tau = "— | —" if v == "uniform" else (f"{_cell([x['heldout'].get('kendall') for x in r], '{:.3f}')} | "
                                              f"{_cell([x['heldout'].get('kendall_in_budget') for x in r], '{:.3f}')}")
        lines.append(f"| {v if v != 'uniform' else 'uniform (SPOS)'} | {len(r)} | {tau} | "
                     f"{_cell([x['heldout']['median_in_budget'] for x in r], '{:.5f}')} | "
                     f"{_cell([x['search']['val_rmse'] for x in r], '{:.5f}')} | "
                     f"{_cell([x['retrain']['rmse'] for x in r], '{:.3f}')} | "
                     f"{_cell([x['retrain']['mae'] for x in r], '{:.3f}')} |")
    per_seed = ["", "Per seed (Middlebury RMSE of the retrained winner):", ""]
    for v in variants:
        if rows[v]:
            per_seed.append(f"- {v}: " + ", ".join(f"s{x['seed']} {x['retrain']['rmse']:.3f}" for x in rows[v]))
    text = "\n".join(lines + per_seed) + "\n"
    fig = new_figure((6, 3.5))
    ax = fig.add_subplot(111)
    for i, v in enumerate([v for v in variants if rows[v]]):
        ys = [x["retrain"]["rmse"] for x in rows[v]]
        ax.scatter([i] * len(ys), ys, color="C0")
        ax.plot([i - 0.2, i + 0.2], [np.mean(ys)] * 2, color="C3")
        ax.text(i, max(ys), v, ha="center", va="bottom")
    ax.set_xticks([])
    ax.set_ylabel(f"Middlebury ×{scale} RMSE, retrained winner")
    save_png(fig, out / "table9.png")
    return text


def _shard(text: str) -> Tuple[int, int]:
    i, n = (int(x) for x in text.split("/"))
    if not 0 <= i < n:
        raise argparse.ArgumentTypeError(f"--shard I/N needs 0 ≤ I < N, got {text}")
    return i, n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="cpu-x4")
    ap.add_argument("--warmup", type=Path, default=None,
                    help="the shared uniform warm-up supernet run (default: OUT/warmup, trained here once)")
    ap.add_argument("--warmup-steps", type=int, default=600, help="steps of the warm-up trained here")
    ap.add_argument("--warmup-donor", default="supernet-x8", help="the weights the warm-up trained here starts from")
    ap.add_argument("--variants", nargs="+", default=["uniform", "hinge", "l1", "l2"], choices=VARIANTS)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=450, help="steps of each branch")
    ap.add_argument("--lr", type=float, default=5e-4, help="branch lr (the warm-up ended at 5e-4)")
    ap.add_argument("--refresh-every", type=int, default=150)
    ap.add_argument("--heldout", type=int, default=200)
    ap.add_argument("--retrain-steps", type=int, default=200)
    ap.add_argument("--shard", type=_shard, default=(0, 1), help="I/N: run every N-th branch starting at I")
    ap.add_argument("--report", action="store_true", help="only write the table from the finished branches")
    ap.add_argument("--out", type=Path, default=Path("runs/sampling-ablation"))
    args = ap.parse_args()

    from dcnas_deploy.fileio import atomic_write_text
    from dcnas_deploy.presets import load_preset

    base = load_preset(args.preset).to_dict()
    if args.warmup is None:
        args.warmup = args.out / "warmup"
        stages = Stages(args.out)
        while not args.report and args.shard[0] != 0 and not stages.record_path("warmup").is_file():
            time.sleep(30)  # shard 0 trains the shared warm-up
        if not args.report:
            warm = warmup_preset(base, args.warmup_steps, args.warmup_donor)
            stages.run("warmup", {"preset": warm.to_dict()}, lambda: _train(warm, args.warmup))
    if not args.report:
        if not (args.warmup / "checkpoint.pt").is_file():
            raise SystemExit(f"--warmup {args.warmup} has no checkpoint.pt (a `train-supernet` run folder)")
        jobs = [(seed, v) for seed in range(args.seeds) for v in args.variants]
        i, n = args.shard
        for seed, v in jobs[i::n]:
            print(f"== {v}, seed {seed}", flush=True)
            run_branch(base, v, seed, args)
    text = report(args.out, args.variants, args)
    atomic_write_text(args.out / "table9.md", text)
    print(text)


if __name__ == "__main__":
    main()
