"""Runtime efficiency: how fast each runtime runs our networks, against eager torch, the best runtime and the
host's own matmul peak, and where each runtime's time goes op by op.

For the shipped models (depth-x4, depth-x8), the demo's model (the newest runs/demo*/**/model.pt, else a random
architecture of the `demo` preset's space, said so in the output) and N random architectures at 256×256 ×8 and
N at 64×64 ×4 (the `cpu-x8` / `cpu-x4` presets' spaces), each converted with the project's backends:

- each runtime's median (ONNX Runtime, OpenVINO, LiteRT/XNNPACK, eager torch), 1 thread, all four timed in
  interleaved rounds (`protocol.measure_interleaved`), as a ratio to eager torch and to the best runtime
  (medians over rounds of the per-round ratio);
- achieved GFLOP/s = 2 × MACs (the search space's cost model) / median, and its share of the 1-thread sgemm
  rate (`op_profile.sgemm_gflops`) measured at the start and the end of the same run (the larger is the peak);
- an op-level breakdown per runtime (`op_profile.op_profile`: ORT's profiler, OpenVINO's PERF_COUNT counters,
  LiteRT sliced one-op models), per op type, with the sum of op times ÷ the end-to-end median.

Writes OUT/runtime_efficiency.json (everything), OUT/runtime_efficiency.md (tables) and OUT/runtime_efficiency.png;
each model's result also lands in OUT/models/<label>.json as it is measured, and a rerun measures only the rest
(delete OUT to start afresh).

Usage: python bench/runtime_efficiency.py [--random 10] [--litert-ops named|all|none] [--out runs/runtime-efficiency]
       python bench/runtime_efficiency.py --quick      # tiny smoke run (seconds of timing, small geometry)
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

REPO = Path(__file__).resolve().parents[1]
RUNTIMES = ("torch", "onnxruntime", "openvino", "litert")
"""Timed runtimes; torch is the eager module, the others load the file its backend converts."""
FILE_RUNTIMES = RUNTIMES[1:]
LABELS = {"torch": "eager torch", "onnxruntime": "ONNX Runtime", "openvino": "OpenVINO", "litert": "LiteRT/XNNPACK"}
COLORS = {"torch": "#888888", "onnxruntime": "#264653", "openvino": "#2a9d8f", "litert": "#e76f51"}


# --------------------------------------------------------------------------------------------
# what is measured
# --------------------------------------------------------------------------------------------

def model_list(args) -> List[Dict[str, Any]]:
    """[{label, kind, space, arch, module (or None: random weights), note}] in measuring order."""
    from dcnas_deploy.model.checkpoint import load_model
    from dcnas_deploy.presets import load_preset
    from dcnas_deploy.pretrained import pretrained_model
    from dcnas_deploy.space import SearchSpace

    out: List[Dict[str, Any]] = []
    if args.quick:
        space = SearchSpace(width=4, scale=4, hr_size=(32, 32))
        for i in range(args.random):
            out.append({"label": f"random-x4-{i}", "kind": "random", "space": space, "arch": space.sample(i),
                        "module": None, "note": f"random arch {i} of a width-4 ×4 32×32 space (--quick)"})
        return out
    for name in ("depth-x4", "depth-x8"):
        module, _ = load_model(pretrained_model(name))
        out.append({"label": name, "kind": "shipped", "space": module.space, "arch": module.arch, "module": module,
                    "note": f"shipped model {name} (trained weights)"})
    demo = sorted(REPO.glob("runs/demo*/**/model.pt"), key=lambda p: p.stat().st_mtime)
    if demo:
        module, _ = load_model(demo[-1])
        out.append({"label": "demo", "kind": "demo", "space": module.space, "arch": module.arch, "module": module,
                    "note": f"the demo run's model {demo[-1].relative_to(REPO)}"})
    else:
        space = load_preset("demo").make_space()
        out.append({"label": "demo", "kind": "demo", "space": space, "arch": space.sample(args.seed), "module": None,
                    "note": f"no demo run here: a random arch (seed {args.seed}) of the demo preset's space"})
    for preset, tag in (("cpu-x8", "x8"), ("cpu-x4", "x4")):
        space = load_preset(preset).make_space()
        for i, arch in enumerate(space.sample_sequence(args.random, seed=args.seed)):
            out.append({"label": f"random-{tag}-{i}", "kind": "random", "space": space, "arch": arch, "module": None,
                        "note": f"random arch {i} (seed {args.seed}) of the {preset} preset's space"})
    # interleave the random ones (x8, x4, x8, ...) so a cut-short run still has both geometries
    named = [m for m in out if m["kind"] != "random"]
    x8 = [m for m in out if m["label"].startswith("random-x8")]
    x4 = [m for m in out if m["label"].startswith("random-x4")]
    return named + [m for pair in zip(x8, x4) for m in pair]


def network(entry: Dict[str, Any]) -> Tuple[Any, Tuple[Any, ...]]:
    """(module in eval mode, (lr, guide) seeded random inputs at its space's geometry)."""
    from dcnas_deploy.model.subnet import timing_model

    module, inputs = timing_model(entry["space"], entry["arch"])
    return (entry["module"] or module).eval(), inputs


def measure_model(entry: Dict[str, Any], args, protocol, folder: Path, peak: float) -> Dict[str, Any]:
    """Convert, time interleaved, op-profile one network; a JSON-ready dict."""
    from dcnas_deploy.runtimes.backends import eager_runner, get_backend
    from dcnas_deploy.runtimes.sessions import load_session, make_feeds
    from dcnas_deploy.runtimes.op_profile import METHODS, by_type, profile_ops, total_ms
    from dcnas_deploy.runtimes.protocol import measure_interleaved

    space, arch = entry["space"], entry["arch"]
    module, inputs = network(entry)
    macs = int(space.macs(arch))
    feeds = [t.numpy() for t in inputs]
    files: Dict[str, Path] = {}
    convert_s: Dict[str, float] = {}
    for rt in FILE_RUNTIMES:
        backend = get_backend(rt)
        t0 = time.perf_counter()
        files[rt] = backend.convert(module, inputs, folder / f"{entry['label']}{backend.file_suffix}")
        convert_s[rt] = round(time.perf_counter() - t0, 2)
    runners, syncs, sessions = {}, {}, []
    runners["torch"], syncs["torch"] = eager_runner(module, inputs, {"threads": args.threads})
    for rt in FILE_RUNTIMES:
        session = load_session(files[rt], rt, {"threads": args.threads})
        sessions.append(session)
        runners[rt] = session.prepare(make_feeds(session.inputs, feeds))
    timing = measure_interleaved(runners, protocol, syncs)
    for s in sessions:
        s.close()
    med = {rt: timing.timings[rt].median_ms for rt in RUNTIMES}
    best = min(med, key=lambda rt: med[rt])
    row: Dict[str, Any] = {
        "label": entry["label"], "kind": entry["kind"], "note": entry["note"], "arch": arch.to_hex(),
        "scale": space.scale, "hr": list(space.hr_size), "width": space.width, "macs": macs,
        "params": int(space.params(arch)), "convert_s": convert_s, "rounds": timing.rounds,
        "best": best, "sgemm_gflops": round(peak, 3), "runtimes": {}}
    for rt in RUNTIMES:
        gflops = 2.0 * macs / (med[rt] * 1e-3) / 1e9
        row["runtimes"][rt] = {**timing.timings[rt].to_dict(), "vs_torch": round(timing.ratio(rt, "torch"), 4),
                               "vs_best": round(timing.ratio(rt, best), 4), "gflops": round(gflops, 3),
                               "pct_of_sgemm": round(100.0 * gflops / peak, 2)}
    row["turn_medians_ms"] = timing.to_dict()["turn_medians_ms"]
    ops: Dict[str, Any] = {}
    profile_rts = [rt for rt in FILE_RUNTIMES
                   if rt != "litert" or args.litert_ops == "all" or (args.litert_ops == "named" and entry["kind"] != "random")]
    for rt in profile_rts:
        t0 = time.perf_counter()
        prof = profile_ops(files[rt], rt, feeds, runs=args.op_runs, threads=args.threads)
        times, total = prof.ops, total_ms(prof.ops)
        ops[rt] = {"method": METHODS[rt], "ops": len(times), "sum_ms": round(total, 4),
                   "run_ms": round(prof.run_ms, 4), "sum_vs_run": round(total / prof.run_ms, 3),
                   "sum_vs_e2e": round(total / med[rt], 3),
                   "by_type_ms": {k: round(v, 4) for k, v in by_type(times).items()},
                   "by_type_kernel_ms": {k: round(v, 4) for k, v in by_type(times, kernels=True).items()},
                   "top": [[o.name, o.op_type, round(o.ms, 4)] for o in sorted(times, key=lambda o: -o.ms)[:args.top]],
                   "profile_s": round(time.perf_counter() - t0, 2)}
    row["ops"] = ops
    for p in folder.iterdir():
        p.unlink()
    return row


# --------------------------------------------------------------------------------------------
# outputs
# --------------------------------------------------------------------------------------------

def markdown(summary: Dict[str, Any]) -> str:
    """Two tables: per model (median, × torch, × best, GFLOP/s, % sgemm per runtime), per runtime (medians)."""
    rows = summary["models"]
    h = summary["host"]
    lines = [f"Host: {h['cpu_name']} (vendor {h.get('cpu_vendor')}, family {h.get('cpu_family')} model "
             f"{h.get('cpu_model')}, ISA {' '.join(h.get('isa') or [])}; {h['cores']} usable cores), "
             f"{summary['date']}, {summary['threads']} thread(s); sgemm peak {summary['sgemm']['peak_gflops']:.1f} "
             f"GFLOP/s (start {summary['sgemm']['start']['gflops']:.1f}, end {summary['sgemm']['end']['gflops']:.1f})"
             + (f". Load: {summary['load_note']}" if summary.get("load_note") else ""),
             "Versions: " + ", ".join(f"{k} {v}" for k, v in summary.get("versions", {}).items()), "",
             "| model | HR ×s | GMACs | " + " | ".join(f"{LABELS[rt]} ms (× torch)" for rt in RUNTIMES)
             + " | best | best GFLOP/s (% sgemm) |",
             "|---|---|---|" + "---|" * len(RUNTIMES) + "---|---|"]
    for r in rows:
        rt_cells = [f"{r['runtimes'][rt]['median_ms']:.2f} ({r['runtimes'][rt]['vs_torch']:.2f})" for rt in RUNTIMES]
        b = r["runtimes"][r["best"]]
        lines.append(f"| {r['label']} | {r['hr'][0]}×{r['hr'][1]} ×{r['scale']} | {r['macs'] / 1e9:.3f} | "
                     + " | ".join(rt_cells) + f" | {LABELS[r['best']]} | {b['gflops']:.1f} ({b['pct_of_sgemm']:.1f} %) |")
    lines += ["", "| runtime | geometry | median × torch | median × best | median GFLOP/s | median % sgemm | best on |",
              "|---|---|---|---|---|---|---|"]
    for geo, sel in geometries(rows).items():
        for rt in RUNTIMES:
            vals = [r["runtimes"][rt] for r in sel]
            lines.append(f"| {LABELS[rt]} | {geo} | {statistics.median(v['vs_torch'] for v in vals):.2f} | "
                         f"{statistics.median(v['vs_best'] for v in vals):.2f} | "
                         f"{statistics.median(v['gflops'] for v in vals):.1f} | "
                         f"{statistics.median(v['pct_of_sgemm'] for v in vals):.1f} | "
                         f"{sum(r['best'] == rt for r in sel)}/{len(sel)} |")
    lines += ["", "Op-level breakdown (share of the op-time sum per op type, top 4; sum of op medians ÷ the whole "
              "model's median timed alongside the profile, else ÷ the interleaved median):", "",
              "| model | runtime | method | ops | sum ÷ whole | top op types |", "|---|---|---|---|---|---|"]
    for r in rows:
        if r["kind"] == "random" and not summary["quick"]:
            continue
        for rt, o in r["ops"].items():
            total = sum(o["by_type_ms"].values()) or 1.0
            top = ", ".join(f"{k} {100 * v / total:.0f} %" for k, v in list(o["by_type_ms"].items())[:4])
            lines.append(f"| {r['label']} | {LABELS[rt]} | {o['method'].split(':')[0].split(' (')[0]} | {o['ops']} | "
                         f"{o.get('sum_vs_run', o['sum_vs_e2e']):.2f} | {top} |")
    return "\n".join(lines) + "\n"


def geometries(rows: List[Dict[str, Any]]) -> Dict[str, List[Dict[str, Any]]]:
    """'256×256 ×8' -> rows at that geometry."""
    out: Dict[str, List[Dict[str, Any]]] = {}
    for r in rows:
        out.setdefault(f"{r['hr'][0]}×{r['hr'][1]} ×{r['scale']}", []).append(r)
    return out


def figure(summary: Dict[str, Any], path: Path) -> Path:
    """Left: each runtime's median ÷ eager torch per model; middle: % of sgemm; right: op types of one model."""
    from dcnas_deploy.figures import new_figure, save_png

    rows = summary["models"]
    fig = new_figure((15, max(4.5, 0.28 * len(rows) + 2.5)))
    ax1, ax2, ax3 = fig.subplots(1, 3, gridspec_kw={"width_ratios": [1.2, 1.0, 1.2]})
    ys = list(range(len(rows)))
    h = 0.8 / len(RUNTIMES)
    for j, rt in enumerate(RUNTIMES):
        off = [y + (j - (len(RUNTIMES) - 1) / 2) * h for y in ys]
        ax1.barh(off, [r["runtimes"][rt]["vs_torch"] for r in rows], height=h, color=COLORS[rt], label=LABELS[rt])
        ax2.barh(off, [r["runtimes"][rt]["pct_of_sgemm"] for r in rows], height=h, color=COLORS[rt])
    for ax in (ax1, ax2):
        ax.set_yticks(ys)
        ax.set_yticklabels([r["label"] for r in rows], fontsize=7)
        ax.invert_yaxis()
    ax2.set_yticklabels([])
    ax1.axvline(1.0, color="black", lw=0.8)
    ax1.set_xscale("log")
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter

    ax1.xaxis.set_major_locator(FixedLocator([0.125, 0.25, 0.5, 1, 2, 4, 8]))
    ax1.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax1.xaxis.set_minor_formatter(NullFormatter())
    ax1.set_xlabel("median ÷ eager torch (same rounds; lower is faster)")
    ax1.legend(fontsize=7, loc="best")
    ax2.set_xlabel(f"achieved GFLOP/s, % of 1-thread sgemm ({summary['sgemm']['peak_gflops']:.0f} GFLOP/s)")
    pick = next((r for r in rows if r["ops"] and r["label"] == "depth-x8"), next((r for r in rows if r["ops"]), None))
    if pick is not None:
        rts = list(pick["ops"])
        types = []
        for rt in rts:
            for k in list(pick["ops"][rt]["by_type_ms"])[:6]:
                if k not in types:
                    types.append(k)
        import matplotlib

        palette = matplotlib.colormaps["tab20"]
        for j, rt in enumerate(rts):
            left = 0.0
            by = pick["ops"][rt]["by_type_ms"]
            total = sum(by.values()) or 1.0
            for i, k in enumerate(types + ["other"]):
                v = by.get(k, 0.0) if k != "other" else sum(v for t, v in by.items() if t not in types)
                ax3.barh(j, 100.0 * v / total, left=left, color=palette(i % 20), label=k)
                left += 100.0 * v / total
        ax3.set_yticks(range(len(rts)))
        ax3.set_yticklabels([LABELS[rt] for rt in rts])
        ax3.invert_yaxis()
        ax3.set_xlim(0, 100)
        ax3.set_xlabel(f"{pick['label']}: share of op time by op type, %")
        handles, labels = ax3.get_legend_handles_labels()
        seen = dict(zip(labels, handles))
        ax3.legend(seen.values(), seen.keys(), fontsize=6, ncol=4, loc="upper center", bbox_to_anchor=(0.5, -0.18))
    host = summary["host"]
    fig.suptitle(f"{host['cpu_name']}, {summary['threads']} thread, {summary['date']}"
                 + (" — other jobs ran" if summary.get("load_note") else ""), fontsize=9)
    fig.tight_layout()
    return save_png(fig, path, dpi=110)


# --------------------------------------------------------------------------------------------
# driver
# --------------------------------------------------------------------------------------------

def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--random", type=int, default=10, help="random architectures per geometry (256×256 ×8, 64×64 ×4)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=8, help="interleaved rounds (at least)")
    ap.add_argument("--op-runs", type=int, default=20, help="runs per op profile")
    ap.add_argument("--top", type=int, default=10, help="slowest ops kept per runtime and model")
    ap.add_argument("--litert-ops", choices=("named", "all", "none"), default="named",
                    help="LiteRT op profiles (sliced one-op models, slowest): named models only, all, none")
    ap.add_argument("--only", nargs="*", help="measure only these labels (e.g. depth-x8 random-x4-0)")
    ap.add_argument("--report", action="store_true",
                    help="measure nothing: write the outputs from the models OUT/models already holds (a cut-short run)")
    ap.add_argument("--load-note", default="", help="what else ran on this machine (written into the outputs)")
    ap.add_argument("--quick", action="store_true", help="tiny smoke run: 1 random width-4 32×32 arch, short timing")
    ap.add_argument("--out", type=Path, default=REPO / "runs" / "runtime-efficiency")
    args = ap.parse_args(argv)
    if args.quick:
        args.random, args.rounds, args.op_runs, args.litert_ops = min(args.random, 1), 3, 3, "all"

    from dcnas_deploy.fileio import atomic_write_text
    from dcnas_deploy.runtimes.sessions import runtime_version
    from dcnas_deploy.runtimes.fingerprint import local_cpu
    from dcnas_deploy.runtimes.op_profile import sgemm_gflops
    from dcnas_deploy.runtimes.protocol import QUICK, Protocol

    protocol = QUICK if args.quick else Protocol(rounds=args.rounds, turn_s=0.05, timed_runs=10, timed_s=0.3, max_s=3.0)
    sg_protocol = Protocol(warmup_runs=2, warmup_s=0.0, timed_runs=3, timed_s=0.0, max_s=0.1, target_ci_pct=0.0) \
        if args.quick else Protocol(max_s=1.0, target_ci_pct=0.0)
    done_dir = args.out / "models"
    done_dir.mkdir(parents=True, exist_ok=True)
    entries = model_list(args)
    if args.only:
        entries = [e for e in entries if e["label"] in set(args.only)]
    if args.report:
        entries = [e for e in entries if (done_dir / f"{e['label']}.json").exists()]
        rates = [json.loads((done_dir / f"{e['label']}.json").read_text()).get("sgemm_gflops") for e in entries]
        sg_start = {"gflops": max([r for r in rates if r] or [float("nan")]), "n": None,
                    "how": "the measuring run's (start of run), read back"}
    else:
        sg_start = sgemm_gflops(args.threads, protocol=sg_protocol)
    print(f"sgemm, {args.threads} thread(s): {sg_start['gflops']:.1f} GFLOP/s (n={sg_start['n']})", flush=True)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for entry in entries:
            done = done_dir / f"{entry['label']}.json"
            if done.exists() and not args.quick:
                rows.append(json.loads(done.read_text()))
                print(f"{entry['label']}: measured before ({done})", flush=True)
                continue
            t0 = time.perf_counter()
            row = measure_model(entry, args, protocol, Path(tmp), sg_start["gflops"])
            row["measured_s"] = round(time.perf_counter() - t0, 1)
            atomic_write_text(done, json.dumps(row, indent=1) + "\n")
            rows.append(row)
            cells = "  ".join(f"{rt} {row['runtimes'][rt]['median_ms']:.2f} ms ({row['runtimes'][rt]['vs_torch']:.2f}×)"
                              for rt in RUNTIMES)
            print(f"{entry['label']}: {cells}  [{row['measured_s']} s]", flush=True)
    sg_end = sg_start if args.report else sgemm_gflops(args.threads, protocol=sg_protocol)
    peak = max(sg_start["gflops"], sg_end["gflops"])
    for r in rows:  # % of the run's peak (the larger of the two sgemm measurements)
        for v in r["runtimes"].values():
            v["pct_of_sgemm"] = round(100.0 * v["gflops"] / peak, 2)
    summary = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "host": local_cpu(),
               "threads": args.threads, "protocol": protocol.to_dict(), "load_note": args.load_note,
               "versions": {rt: runtime_version(rt) for rt in RUNTIMES},
               "sgemm": {"peak_gflops": peak, "start": sg_start, "end": sg_end},
               "quick": args.quick, "models": rows}
    atomic_write_text(args.out / "runtime_efficiency.json", json.dumps(summary, indent=1) + "\n")
    md = markdown(summary)
    atomic_write_text(args.out / "runtime_efficiency.md", md)
    figure(summary, args.out / "runtime_efficiency.png")
    print(md)
    print(f"wrote {args.out}/runtime_efficiency.json, runtime_efficiency.md, runtime_efficiency.png", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
