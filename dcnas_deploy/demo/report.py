"""The demo report: one list of blocks rendered to Markdown and to a self-contained-folder HTML page."""
from __future__ import annotations

import datetime as _dt
import html
import math
import os
from pathlib import Path
from typing import Any, Dict, List, Sequence, Tuple

import numpy as np

from dcnas_deploy.fileio import atomic_write_text

EVAL_SYNTHETIC = "synthetic:n=24,size=128"
"""The procedural test scenes the demo scores on (rooms, bicubic LR), whatever the preset trains on."""

Block = Tuple[str, Any]  # ("h2", text) | ("p", text) | ("table", (header, rows)) | ("img", (path, caption)) | ("code", text)


def comparison_grid(upsamplers: Dict[str, Any], dataset, scale: int, path: Path, n: int = 3) -> Path:
    """Rows of (guide, LR, each model's output, ground truth, |error| of bicubic and of ours)."""
    from dcnas_deploy.data.degrade import make_triple
    from dcnas_deploy.figures import new_figure, save_png

    n = min(n, len(dataset))
    names = list(upsamplers)
    cols = ["guide", "LR (input)"] + names + ["ground truth", "|error| bicubic", "|error| ours"]
    fig = new_figure((2.1 * len(cols), 2.2 * n))
    axes = fig.subplots(n, len(cols), squeeze=False)
    for i in range(n):
        t = make_triple(dataset[i], scale)
        outs = {m: up(t.lr, t.guide) for m, up in upsamplers.items()}
        valid = np.isfinite(t.hr) & (t.hr > 0)
        lo, hi = np.percentile(t.hr[valid], [1, 99]) if valid.any() else (0.0, 1.0)
        err = {m: np.where(valid, np.abs(outs[m] - t.hr), 0) for m in ("bicubic", "ours") if m in outs}
        emax = max(float(np.percentile(e, 99.5)) for e in err.values()) if err else 1.0
        panels = [("rgb", t.guide), ("depth", np.kron(t.lr, np.ones((scale, scale))))] + \
                 [("depth", outs[m]) for m in names] + [("depth", t.hr)] + [("err", err.get(m)) for m in ("bicubic", "ours")]
        for ax, (kind, img), title in zip(axes[i], panels, cols):
            if img is not None:
                if kind == "rgb":
                    ax.imshow(np.clip(img, 0, 1))
                elif kind == "depth":
                    ax.imshow(img, cmap="viridis", vmin=lo, vmax=hi)
                else:
                    ax.imshow(img, cmap="magma", vmin=0, vmax=emax)
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(title, fontsize=8)
        axes[i][0].set_ylabel(getattr(dataset[i], "name", str(i)), fontsize=7)
    fig.tight_layout()
    save_png(fig, path, dpi=90)
    return path


def _f(v: Any, fmt: str = "{:.4g}") -> str:
    if isinstance(v, dict):
        return ", ".join(f"{k} {_f(x, fmt)}" for k, x in v.items())
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    return fmt.format(v) if isinstance(v, (int, float)) else str(v)


def build_blocks(out: Path, s, r: Dict[str, Dict[str, Any]], seconds: Dict[str, float]) -> List[Block]:
    """The report's content, every number taken from the stage records `r`."""
    rel = lambda p: os.path.relpath(p, out)
    prof, sup, found, fin, exp, bench, ev = (r[k] for k in ("profile", "supernet", "search", "retrain", "export",
                                                             "benchmark", "evaluate"))
    host = prof.get("host", {})
    b: List[Block] = [("h1", "dcnas-deploy demo report")]
    b.append(("p", f"Generated {_dt.datetime.now(_dt.timezone.utc).isoformat(timespec='seconds')} on "
                   f"{host.get('cpu')} ({host.get('os')}). Preset `{s.preset}`, device `{s.device}`. "
                   f"Stage times: " + ", ".join(f"{k} {v:.0f} s" for k, v in seconds.items())
                   + f" (total {sum(seconds.values()) / 60:.1f} min)."))
    if s.quick:
        b.append(("p", "**Smoke-test run (`--quick`): 5-run timing protocol; the latency figures are not meaningful.**"))
    e = prof.get("calibration_errors", {})
    b += [("h2", "1. Latency LUT"),
          ("p", f"{'Reused the' if prof['reused'] else 'Measured a new'} LUT `{prof['lut']}` "
                f"({prof['runtime']} {prof['runtime_version']}, {prof['ops']} ops, profiling took "
                f"{_f(prof.get('profiling_seconds'))} s). Calibration on {prof['calibration_networks']} whole networks, "
                f"{e.get('method', '')}: MAPE {_f(e.get('mape_pct'), '{:.2f}')} %, "
                f"{_f(100 * e['within_10pct'] if 'within_10pct' in e else None, '{:.0f}')} % within ±10 %, "
                f"Kendall τ {_f(e.get('kendall_tau'), '{:.3f}')}. Latency of the space (10,000 random architectures, "
                f"LUT): p25 {prof['space_latency_ms']['p25']:.3f} ms, median {prof['space_latency_ms']['median']:.3f} ms, "
                f"p75 {prof['space_latency_ms']['p75']:.3f} ms.")]
    if Path(prof["scatter"]).is_file():
        b.append(("img", (rel(prof["scatter"]), "LUT prediction vs end-to-end measurement")))
    if sup.get("given"):
        sup_text = (f"Started from the supernet `{sup['given']}` ({sup['run']}; {sup['steps']} steps, trained by "
                    f"`{sup.get('made_by') or 'an earlier run'}`), not trained here; validation of sampled paths "
                    f"(normalised units, the preset's metric) went from [{_f(sup.get('val_start'))}] to [{_f(sup.get('val_end'))}] "
                    f"in its training.")
    else:
        sup_text = (f"{sup['steps']} steps in {sup['seconds']:.0f} s; validation of sampled paths (normalised units) "
                    f"from [{_f(sup.get('val_start'))}] to [{_f(sup.get('val_end'))}].")
    b += [("h2", "2. Supernet"), ("p", sup_text)]
    b += [("h2", "3. Search under the latency budget"),
          ("p", f"Budget: the {found.get('budget_percentile', 50):g}th percentile of the space's LUT latency, "
                f"**{found['budget_ms']:.3f} ms** on `{s.device}`. "
                f"{found['evaluated']} architectures evaluated with inherited weights; the chosen one has validation "
                f"RMSE {found['val_rmse']:.4g} (normalised), {found['params']:,} params, {found['macs'] / 1e6:.1f} MMACs.")]
    if prof.get("reuse_note"):
        b.append(("p", prof["reuse_note"]))
    rows = [[t["genome"][:16] + "…", d, f"{v['lut_ms']:.3f}", f"{v['measured']['median_ms']:.3f}",
             _f((v.get("host_speed") or {}).get("factor"), "{:.3f}"), f"{v.get('decided_ms', v['measured']['median_ms']):.3f}",
             _f(v.get("held_ms"), "{:.3f}"), f"{v['budget_ms']:.3f}", "kept" if t["accepted"] else "dropped (over budget)"]
            for t in found["closed_loop"] for d, v in t["devices"].items()]
    b.append(("table", (["candidate", "device", "LUT ms", "raw measured ms", "host speed factor",
                         "normalised ms", "upper 95 % bound (held to the budget)", "budget ms", "closed loop"], rows)))
    for line in found.get("notes", []):
        b.append(("p", f"Note: {line}"))
    for key, cap in (("curve_png", "search curve"), ("pareto_png", "latency (LUT) vs validation RMSE")):
        if Path(found["files"][key]).is_file():
            b.append(("img", (rel(found["files"][key]), cap)))
    metrics = {k: v for k, v in fin.items() if k.startswith(("val", "steps"))}
    b += [("h2", "4. Retraining the found architecture"),
          ("p", "Initialised from the supernet; " + ", ".join(f"{k} {_f(v)}" for k, v in metrics.items() if
                                                               isinstance(v, (int, float))) + f". Checkpoint `{fin['model']}`.")]
    b += [("h2", f"5. Export (accuracy checked against PyTorch on {exp['data']})"),
          ("table", (["format", "precision", "status", "size MB", "PSNR vs torch dB", f"task RMSE ({exp['unit']})",
                      "PyTorch task RMSE", "median ms"],
                     [[x.get("format"), x.get("precision"), x.get("status"), _f(x.get("size_mb"), "{:.2f}"),
                       _f(x.get("psnr_db"), "{:.1f}"), _f(x.get("rmse_file")), _f(x.get("rmse_torch")),
                       _f(x.get("latency_ms"), "{:.3f}")] for x in exp["rows"]])),
          ("p", f"Check images: {exp['data']}. All requested checks passed: **{exp['ok']}**.")]
    b += [("h2", "6. Latency per runtime (end to end, this machine)"),
          ("table", (["device", "runtime", "input", "median ms", "p10", "p90", "runs"],
                     [[x["device"], x["runtime"], Path(x["input"]).name, _f(x.get("median_ms"), "{:.3f}"),
                       _f(x.get("p10_ms"), "{:.3f}"), _f(x.get("p90_ms"), "{:.3f}"), _f(x.get("count"))]
                      if "error" not in x else [x["device"], x["runtime"], Path(x["input"]).name, x["error"], "", "", ""]
                      for x in bench["rows"]]))]
    b.append(("h2", f"7. Quality (×{ev['scale']})"))
    for dname, per_model in ev["metrics"].items():
        b.append(("table", ([f"{dname} ({ev['units'][dname]})", "RMSE", "MAE", "PSNR", "SSIM"],
                            [[m, _f(v.get("rmse")), _f(v.get("mae")), _f(v.get("psnr"), "{:.2f}"),
                              _f(v.get("ssim"), "{:.4f}")] for m, v in per_model.items()])))
        b.append(("img", (rel(ev["grids"][dname]), f"{dname}: guide, LR, outputs, ground truth, error maps")))
    q = " --quick" if s.quick else ""
    sup_run = sup.get("run", f"{out}/supernet")
    b += [("h2", "8. Reproduce"), ("code", "\n".join([
        f"dcnas-deploy profile --device {s.device} --width {found_space(found)['width']} "
        f"--hr {found_space(found)['hr_size'][0]}x{found_space(found)['hr_size'][1]} --scale {found_space(found)['scale']}"
        f" --calibrate {s.calibrate}{q}",
        *([] if sup.get("given") else [f"dcnas-deploy train-supernet --preset {s.preset} --out {out}/supernet"]),
        f"dcnas-deploy search --supernet {sup_run} --device {s.device} "
        f"--latency {found['budget_ms']:.4f}ms -o {out}/arch.yaml{q}",
        f"dcnas-deploy train --arch {out}/arch.yaml --preset {s.preset} --init supernet "
        f"--supernet {sup_run} --out {out}/final",
        f"dcnas-deploy export --model {fin['model']} --target all -o {out}/export",
        *[f"dcnas-deploy benchmark --device {x['device']} {x['input']}" for x in bench["rows"]],
        f"dcnas-deploy evaluate -m bicubic -m guided-filter -m jbu -m {fin['model']} --data {EVAL_SYNTHETIC} "
        f"--scale {ev['scale']}",
        f"dcnas-deploy demo --out {out}   # all of the above; finished stages are reused"]))]
    return b


def found_space(found: Dict[str, Any]) -> Dict[str, Any]:
    """The search space recorded in the chosen arch.yaml."""
    from dcnas_deploy.space import Arch

    return Arch.from_yaml(found["arch"]).meta["space"]


def to_markdown(blocks: Sequence[Block]) -> str:
    """Render blocks as Markdown."""
    out = []
    for kind, v in blocks:
        if kind in ("h1", "h2"):
            out.append(("# " if kind == "h1" else "## ") + v)
        elif kind == "p":
            out.append(v)
        elif kind == "code":
            out.append("```bash\n" + v + "\n```")
        elif kind == "img":
            out.append(f"![{v[1]}]({v[0]})")
        elif kind == "table":
            head, rows = v
            out.append("| " + " | ".join(map(str, head)) + " |\n|" + "---|" * len(head) + "\n"
                       + "\n".join("| " + " | ".join(map(str, row)) + " |" for row in rows))
    return "\n\n".join(out) + "\n"


def to_html(blocks: Sequence[Block]) -> str:
    """Render blocks as a standalone HTML page (images referenced beside it)."""
    import re

    inline = lambda t: re.sub(r"`([^`]+)`", r"<code>\1</code>", re.sub(r"\*\*([^*]+)\*\*", r"<b>\1</b>", html.escape(t)))
    out = ["<!doctype html><meta charset='utf-8'><title>dcnas-deploy demo report</title><style>"
           "body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}"
           "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}"
           "td:first-child,th:first-child{text-align:left}img{max-width:100%}pre{background:#f4f4f4;padding:1em;"
           "overflow-x:auto}</style>"]
    for kind, v in blocks:
        if kind in ("h1", "h2"):
            out.append(f"<{kind}>{html.escape(v)}</{kind}>")
        elif kind == "p":
            out.append(f"<p>{inline(v)}</p>")
        elif kind == "code":
            out.append(f"<pre>{html.escape(v)}</pre>")
        elif kind == "img":
            out.append(f"<figure><img src='{html.escape(v[0])}' alt='{html.escape(v[1])}'>"
                       f"<figcaption>{html.escape(v[1])}</figcaption></figure>")
        elif kind == "table":
            head, rows = v
            out.append("<table><tr>" + "".join(f"<th>{html.escape(str(h))}</th>" for h in head) + "</tr>"
                       + "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>"
                                 for row in rows) + "</table>")
    return "\n".join(out) + "\n"


def write_report(out: Path, settings, results: Dict[str, Dict[str, Any]], seconds: Dict[str, float]) -> Path:
    """Write OUT/report.md and OUT/report.html from the stage records."""
    blocks = build_blocks(Path(out), settings, results, seconds)
    atomic_write_text(Path(out) / "report.html", to_html(blocks))
    return atomic_write_text(Path(out) / "report.md", to_markdown(blocks))
