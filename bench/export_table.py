"""Export one trained model to every format and precision; print the status table and each runtime's
median latency as a ratio to PyTorch eager measured in the same run (same host, threads, protocol).

Usage:
    python bench/export_table.py --model runs/tiny/model.pt --data middlebury:../shared/data/middlebury
    python bench/export_table.py            # no model: trains a small one first (short run, see --train-steps)

Writes OUT/export_status.json (the export's own), OUT/export_table.json (rows + ratios), OUT/export_table.md
and OUT/export_latency.png.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parents[1]
MIDDLEBURY = REPO.parent / "shared" / "data" / "middlebury"
console = Console()


def train_small_model(out: Path, steps: int, seed: int) -> Path:
    """A short from-scratch training of one architecture of the `demo` preset (minutes on 2 cores) → out/model.pt."""
    from dcnas_deploy.presets import load_preset
    from dcnas_deploy.train.retrain import train_arch

    preset = load_preset("demo").with_overrides({"retrain.steps": steps, "training.seed": seed})
    space = preset.make_space()
    arch = space.sample(seed)
    console.print(f"training one demo-preset architecture (×{space.scale}, width {space.width}) for {steps} steps "
                  f"on {preset.data.spec} → {out}")
    result = train_arch(arch, preset, out, progress=True)
    return Path(result["model"]) if result and "model" in result else out / "model.pt"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, help="trained checkpoint (model.pt); default: train a small one")
    parser.add_argument("--data", default=f"middlebury:{MIDDLEBURY}" if (MIDDLEBURY / "Depth").is_dir() else "synthetic")
    parser.add_argument("--hr", default="256x256", help="HR geometry of the exported graphs")
    parser.add_argument("--precision", default="all")
    parser.add_argument("--target", default="all")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--check-images", type=int, default=8)
    parser.add_argument("--calib-images", type=int, default=32)
    parser.add_argument("--train-steps", type=int, default=300)
    parser.add_argument("--out", type=Path, default=REPO / "out" / "export_table")
    args = parser.parse_args(argv)

    from dcnas_deploy.space import parse_hw
    from dcnas_deploy.export.formats import parse_precisions, parse_targets
    from dcnas_deploy.export.pipeline import ExportSettings, export_checkpoint
    from dcnas_deploy.export.status import render_table, row_notes
    from dcnas_deploy.fileio import atomic_write, atomic_write_text
    from dcnas_deploy.runtimes.protocol import Protocol

    model = args.model or train_small_model(REPO / "runs" / "export-bench", args.train_steps, seed=0)
    settings = ExportSettings(formats=parse_targets(args.target), precisions=parse_precisions(args.precision),
                              out_dir=args.out, hr_size=parse_hw(args.hr), nhwc=True, data=args.data,
                              n_check=args.check_images, n_calib=args.calib_images, threads=args.threads,
                              latency=Protocol(), stem=model.stem)
    with console.status("exporting, checking and timing...") as status:
        report = export_checkpoint(model, settings, progress=lambda msg: status.update(msg))
    console.print(render_table(report.rows, f"{model} at HR {args.hr}", report.unit))
    for line in row_notes(report.rows):
        console.print(f"  • {line}", highlight=False)

    torch_ms = report.rows[0].latency_ms
    ratios = Table(title=f"median latency vs PyTorch eager ({torch_ms:.2f} ms), {args.threads} threads, same run")
    for col in ("format", "prec", "runtime", "median ms", "× PyTorch"):
        ratios.add_column(col, justify="left" if col in ("format", "prec", "runtime") else "right")
    rows = []
    for r in report.rows:
        ratio = r.latency_ms / torch_ms if r.latency_ms and torch_ms else None
        rows.append({**r.to_dict(), "ratio_to_torch": ratio})
        ratios.add_row(r.format, r.precision, r.runtime, "—" if r.latency_ms is None else f"{r.latency_ms:.2f}",
                       "—" if ratio is None else f"{ratio:.3f}")
    console.print(ratios)
    console.print(f"check data: {report.data}")

    args.out.mkdir(parents=True, exist_ok=True)
    summary = {"model": str(model), "hr": args.hr, "torch_ms": torch_ms, "host": report.host, "date": report.date,
               "data": report.data, "rows": rows}
    atomic_write_text(args.out / "export_table.json", json.dumps(summary, indent=2) + "\n")
    md = ["| format | precision | status | MB | PSNR vs torch (dB) | RMSE | ΔRMSE % | median ms | × PyTorch |",
          "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        def f(v, spec):
            return "—" if v is None or isinstance(v, str) else format(v, spec)
        md.append(f"| {r['format']} | {r['precision']} | {r['status']} | {f(r['size_mb'], '.2f')} | "
                  f"{f(r['psnr_db'], '.1f')} | {f(r['rmse_file'] if r['rmse_file'] is not None else r['rmse_torch'], '.4f')} | "
                  f"{f(r['rmse_increase_pct'], '+.2f')} | {f(r['latency_ms'], '.2f')} | {f(r['ratio_to_torch'], '.3f')} |")
    atomic_write_text(args.out / "export_table.md", "\n".join(md) + "\n")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    timed = [r for r in rows if r["latency_ms"]]
    fig, ax = plt.subplots(figsize=(7, 0.45 * len(timed) + 1.2))
    labels = [f"{r['format']} {r['precision']}" for r in timed]
    colors = ["#888888" if r["status"] == "reference" else "#2a9d8f" if r["status"] == "passed" else "#e76f51"
              for r in timed]
    ax.barh(labels, [r["ratio_to_torch"] for r in timed], color=colors)
    ax.axvline(1.0, color="black", lw=0.8)
    ax.invert_yaxis()
    ax.set_xlabel("median latency / PyTorch eager (lower is faster)")
    ax.set_title(f"{model.name}, HR {args.hr}, {args.threads} threads (red: failed its check)")
    fig.tight_layout()
    atomic_write(args.out / "export_latency.png", lambda tmp: fig.savefig(tmp, dpi=120, format="png"))
    console.print(f"wrote {args.out}/export_table.json, export_table.md, export_latency.png, export_status.json")
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
