"""`dcnas-deploy evaluate` and `dcnas-deploy upsample`: score upsamplers on datasets, upsample one image."""
from __future__ import annotations

from pathlib import Path
from typing import List, Literal, Optional

import typer

from dcnas_deploy.cli.common import Number, console, user_errors

MODEL_HELP = ("bicubic | guided-filter | jbu (parameters as name:key=value,...), a shipped model (depth-x4, "
              "depth-x8) or a model file (.pt/.onnx/.xml/.tflite once their loaders are installed)")
DATA_HELP = ("synthetic[:n=24,size=256] | deadleaves | middlebury:PATH | lu:PATH | nyu:PATH | rgbdd:PATH | "
             "folder:PATH | thermal-synthetic | thermal:PATH | saliency-synthetic | saliency:PATH | "
             "sensorlr:SPEC (simulated sensor LR) | mix:SPEC+SPEC")
_HEADERS = {"rmse": "RMSE ({unit})", "mae": "MAE ({unit})", "psnr": "PSNR (dB)", "ssim": "SSIM", "fmax": "max F (β²=0.3)",
            "sam": "SAM (°)", "ergas": "ERGAS", "scc": "SCC", "q": "Q", "q2n": "Q2n", "d_lambda": "D_λ", "d_s": "D_s",
            "qnr": "QNR"}


def _fmt(v: float) -> str:
    return "—" if v != v else ("inf" if v == float("inf") else f"{v:.4f}")


def _metric_columns(task_name: str, scored: List[str]) -> List[str]:
    """The task's metrics first (headline leading), then any other scored ones."""
    from dcnas_deploy.tasks import get_task

    return list(dict.fromkeys([m for m in get_task(task_name).metrics if m in scored] + scored))


def _protocol(name: str) -> str:
    """--protocol checked at parse time."""
    from dcnas_deploy.data.protocols import get_protocol

    get_protocol(name)
    return name


def evaluate_cmd(
    model: List[str] = typer.Option(..., "--model", "-m", help=MODEL_HELP + ". Repeat to compare several."),
    data: str = typer.Option("synthetic", "--data", "-d", help=DATA_HELP),
    scale: int = typer.Option(8, "--scale", "-s", parser=Number(int, min=1, max=64),
                              help="Upsampling factor (the paper uses 4, 8, 16)."),
    split: Literal["train", "val", "test", "all", "trainval"] = typer.Option(
        "test", "--split", help="train | val | test | all (nyu also: trainval)."),
    per_image: bool = typer.Option(False, "--per-image", help="Also print one row per image."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Write results JSON here and a CSV beside it."),
    save_images: Optional[Path] = typer.Option(None, "--save-images",
                                               help="Folder for side-by-side PNGs (guide/LR/output/GT/error)."),
    noise: float = typer.Option(0.0, "--noise", parser=Number(float, min=0.0),
                                help="Gaussian noise level on the LR (paper §IV-B uses 25: σ = 5/255 of the GT range)."),
    synthetic_lr: bool = typer.Option(False, "--synthetic-lr",
                                      help="Ignore real LR captures (RGB-D-D) and bicubic-downsample the HR instead."),
    real_lr: Literal["resize-first", "direct"] = typer.Option(
        "resize-first", "--real-lr", help="How real LR captures are used: resize-first (resize the capture to "
                                          "HR/scale, as DCNAS/SGNet) or direct (upsample the capture itself, as DCTNet)."),
    real_lr_any_scale: bool = typer.Option(False, "--real-lr-any-scale",
                                           help="Allow real LR at ×8/×16 (no published protocol; refused otherwise)."),
    protocol: Optional[str] = typer.Option(None, "--protocol", parser=_protocol,
                                           help="Override the scoring protocol: nyu | rgbdd | middlebury | metres | raw."),
    limit: Optional[int] = typer.Option(None, "--limit", parser=Number(int, min=1), help="Score only the first N images."),
) -> None:
    """Score upsamplers on a dataset with its protocol (RMSE, MAE, PSNR, SSIM; max F-measure for saliency)."""
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn
    from rich.table import Table

    from dcnas_deploy.data.evaluation import evaluate, save_results, slug
    from dcnas_deploy.data.real_lr import check_real_lr
    from dcnas_deploy.data.registry import open_dataset
    from dcnas_deploy.fileio import check_output_path
    from dcnas_deploy.terminal import LineProgress
    from dcnas_deploy.upsamplers import create_upsampler

    if out is not None:
        check_output_path(out, "--out", suffixes=(".json",))
        check_output_path(out.with_suffix(".csv"), "--out (its CSV)")
    if save_images is not None:
        check_output_path(save_images, "--save-images", folder=True)
    dataset = open_dataset(data, split, protocol=protocol, limit=limit)
    check_real_lr(dataset if dataset.has_real_lr and not synthetic_lr else None, scale, real_lr, real_lr_any_scale)
    from dcnas_deploy.tasks import HIGHER_IS_BETTER, get_task

    bands = get_task(dataset.task).guide_channels
    upsamplers = [(spec, create_upsampler(spec, scale, guide_bands=bands)) for spec in model]
    if len(dataset):
        from dcnas_deploy.data.sample import band_counts
        from dcnas_deploy.upsamplers import check_fits_data

        first = dataset[0]
        for _spec, up in upsamplers:
            check_fits_data(up, *band_counts(first.depth_hr, first.guide), dataset.task)
    lr_note = f", real LR {real_lr}" if dataset.has_real_lr and not synthetic_lr else ""
    console.print(f"[bold]{dataset.describe()}[/] — ×{scale}" + (f", noise level {noise:g}" if noise else "") + lr_note)
    for note in dataset.notes:
        console.print(f"[yellow]note:[/] {note}", highlight=False)
    results = []
    with LineProgress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                      console=console, transient=True) as progress:
        for spec, up in upsamplers:
            task = progress.add_task(f"{spec}", total=len(dataset))
            img_dir = None
            if save_images is not None:
                img_dir = save_images / slug(spec) if len(upsamplers) > 1 else save_images
            results.append(evaluate(up, dataset, scale, noise_level=noise, use_real_lr=not synthetic_lr,
                                    save_images=img_dir, model_name=spec, dataset_name=data,
                                    on_image=lambda _r, t=task: progress.advance(t), real_lr_mode=real_lr,  # type: ignore[misc]
                                    real_lr_any_scale=real_lr_any_scale))
    unit = dataset.protocol.unit
    cols = _metric_columns(dataset.task, results[0].metric_names)
    headers = [_HEADERS.get(m, m).format(unit=unit) for m in cols]
    if per_image:
        for res in results:
            table = Table(title=f"{res.model} ×{scale} per image")
            for col in ("image", *headers):
                table.add_column(col, justify="left" if col == "image" else "right")
            for r in res.images:
                table.add_row(r.name, *(_fmt(r.metrics[m]) for m in cols))
            console.print(table)
    table = Table(title=f"{dataset.describe()} — ×{scale}, mean of per-image metrics ({dataset.task})")
    for col in ("model", "images", *headers):
        table.add_column(col, justify="left" if col == "model" else "right")
    head = cols[0]
    pick = max if HIGHER_IS_BETTER.get(head, False) else min
    best = pick(r.mean()[head] for r in results)
    for res in results:
        m = res.mean()
        head_txt = _fmt(m[head])
        table.add_row(res.model, str(len(res.images)), f"[bold green]{head_txt}[/]" if len(results) > 1
                      and m[head] == best else head_txt, *(_fmt(m[k]) for k in cols[1:]))
    console.print(table)
    if out is not None:
        paths = save_results(results, out)
        console.print("wrote " + ", ".join(str(p) for p in paths))
    if save_images is not None:
        console.print(f"comparison images in {save_images}")


def _guide_for(guide, lr_shape, scale: Optional[int]):
    """(guide, scale): the scale inferred or checked, the guide cropped by at most scale−1 px (mod-crop)."""
    from dcnas_deploy.errors import DcnasError

    H, W = guide.shape[:2]
    h, w = lr_shape
    s = scale if scale is not None else max(1, min(H // h, W // w))
    if s < 1 or not (s * h <= H < s * h + s and s * w <= W < s * w + s):
        want = f"×{scale}" if scale is not None else "an integer scale s"
        raise DcnasError(f"guide is {H}×{W} but the LR depth is {h}×{w}: for {want} the guide must be "
                         f"s·{h}×s·{w} (up to s−1 extra rows/columns, which are cropped)"
                         + (f"; at ×{scale} that is {scale * h}×{scale * w}" if scale is not None else ""))
    return guide[: s * h, : s * w], s


def upsample_cmd(
    model: str = typer.Option(..., "--model", "-m", help=MODEL_HELP),
    depth: Path = typer.Option(..., "--target", "--depth", help="Low-resolution target: depth (16/8-bit PNG, .npy, "
                                                                ".pfm, float TIFF), or for other tasks any band "
                                                                "count (PNG, TIFF, .npy)."),
    rgb: Path = typer.Option(..., "--guide", "--rgb", help="High-resolution guide: RGB (PNG/JPEG/...), or the "
                                                           "task's band count (a grey PAN for pan-sharpening)."),
    output: Path = typer.Option(..., "--output", "-o", help="Output (.png keeps the input PNG's bit depth; "
                                                             ".npy/.pfm/.tif float32)."),
    scale: Optional[int] = typer.Option(None, "--scale", "-s", parser=Number(int, min=1, max=64),
                                        help="Upsampling factor; default: guide size / LR size."),
    preview: Optional[Path] = typer.Option(None, "--preview", help="Also write a side-by-side PNG (guide/LR/output)."),
    task: str = typer.Option("depth", "--task", help="depth | thermal | saliency | pansharpening: decides the bands "
                                                     "and which pixels are holes (depth: 0 and NaN; others: NaN)."),
) -> None:
    """Upsample your own LR target with an HR guide; writes it in the input's units and format."""
    import numpy as np

    from dcnas_deploy.data.holes import invalid_mask
    from dcnas_deploy.fileio import check_output_path
    from dcnas_deploy.tasks import get_task
    from dcnas_deploy.upsamplers import create_upsampler

    t = get_task(task)
    inputs = [depth, rgb, Path(model) if Path(model).suffix else None]
    suffixes = (".png", ".npy", ".pfm") if t.name == "depth" else (".png", ".npy", ".tif", ".tiff")
    check_output_path(output, "--output", suffixes=suffixes, inputs=inputs)
    if preview is not None:
        check_output_path(preview, "--preview", suffixes=(".png",), inputs=[*inputs, output])
    lr, write = _read_target(depth, output, t)
    from dcnas_deploy.data.io import read_guide

    guide = read_guide(rgb, bands=t.guide_channels)
    full = guide.shape[:2]
    guide, s = _guide_for(guide, lr.shape[:2], scale)
    if guide.shape[:2] != full:
        console.print(f"note: guide cropped from {full[0]}×{full[1]} to {guide.shape[0]}×{guide.shape[1]} "
                      f"(= ×{s} the LR {lr.shape[0]}×{lr.shape[1]})")
    holes = int(invalid_mask(lr, t.zero_is_hole).sum())
    if holes:
        console.print(f"note: {holes} LR pixels are holes ({'0/' if t.zero_is_hole else ''}NaN); they are filled "
                      "from the nearest valid pixel")
    up = create_upsampler(model, s, guide_bands=t.guide_channels)
    from dcnas_deploy.data.sample import band_counts
    from dcnas_deploy.upsamplers import check_fits_data

    check_fits_data(up, *band_counts(lr, guide), t.name)
    sr = up(lr, guide) if t.zero_is_hole else up(lr, guide, zero_is_hole=False)
    write(sr)
    valid = sr[np.isfinite(sr)]
    console.print(f"wrote {output} ({sr.shape[0]}×{sr.shape[1]}{'' if sr.ndim == 2 else f'×{sr.shape[2]}'}, ×{s} "
                  f"with {model}; {t.target} {valid.min():.4g}–{valid.max():.4g} in the input's units"
                  f"{_clipped_note(output, valid)})")
    if preview is not None:
        from dcnas_deploy.data.protocols import get_protocol
        from dcnas_deploy.data.visualize import save_comparison

        save_comparison(preview, guide, lr, sr, None, get_protocol("raw"), f"{model} ×{s}")
        console.print(f"wrote {preview}")


def _clipped_note(output: Path, values) -> str:
    """'; N values … clipped …' when `output` stores integers and some of `values` lay outside their range."""
    import numpy as np

    from dcnas_deploy.data.bands import band_info

    if output.suffix.lower() not in (".png", ".tif", ".tiff"):
        return ""
    dtype = band_info(output).dtype
    if dtype not in ("uint8", "uint16"):
        return ""
    top = 255 if dtype == "uint8" else 65535
    v = np.rint(values)
    n = int(((v < 0) | (v > top)).sum())
    return (f"; {n} value(s) outside the input's {dtype} range 0–{top} (resampling overshoot) were clipped: write "
            f"{output.with_suffix('.tif')} or .npy to keep them" if n else "")


def _read_target(path: Path, output: Path, task):
    """(LR target, writer of the result): depth via the depth readers, other tasks via N-band files.

    Checks that the output can hold the result before any work (bit depth, band count).
    """
    if task.name == "depth":
        from dcnas_deploy.data.io import check_depth_output, read_depth_file, write_depth

        lr, fmt = read_depth_file(path)
        out_fmt = fmt if output.suffix.lower() == ".png" else None
        check_depth_output(output, out_fmt)
        return lr, lambda sr: write_depth(output, sr, out_fmt)
    from dcnas_deploy.data.bands import check_bands_output, read_bands, write_bands
    from dcnas_deploy.errors import DcnasError

    cube, in_fmt = read_bands(path)
    bands = cube.shape[2]
    allowed = task.target_band_choices or (task.target_channels,)
    if bands not in allowed:
        raise DcnasError(f"{path} has {bands} band(s) ({in_fmt.describe()}); a {task.name} target has "
                         f"{' or '.join(map(str, allowed))}")
    same_kind = output.suffix.lower() == in_fmt.suffix or (output.suffix.lower() in (".tif", ".tiff")
                                                           and in_fmt.suffix in (".tif", ".tiff"))
    band_fmt = in_fmt if same_kind or in_fmt.dtype == "float32" else None  # float never silently becomes integer
    check_bands_output(output, bands, band_fmt)
    lr = cube[..., 0] if bands == 1 else cube
    return lr, lambda sr: write_bands(output, sr, band_fmt)


def register(app: typer.Typer) -> None:
    """Add `evaluate` and `upsample`."""
    app.command("evaluate")(user_errors(evaluate_cmd))
    app.command("upsample")(user_errors(upsample_cmd))
