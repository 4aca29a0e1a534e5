"""Is an int8 file right on CPUs other than the one that exported it? ONNX schemes and OpenVINO overflow fixes.

Exports random networks to ONNX int8 in every scheme of `export.converters.ONNX_INT8_SCHEMES` and to OpenVINO
int8 with each NNCF overflow fix (`enable`, the export default; `first_layer_only`, NNCF's default; `disable`),
then runs each file (`runtimes.emulated.run_files`) natively, under `qemu-x86_64 -cpu MODEL` (user-mode
emulation: CPUID reports that CPU, so the runtimes pick its kernels) and natively with
ONEDNN_MAX_CPU_ISA=AVX512_CORE (OpenVINO only: AVX-512 kernels without VNNI; qemu cannot emulate AVX-512),
and prints the worst PSNR vs PyTorch per variant. Then times each variant natively at --time-hr (one network,
1 thread, in alternating turns with the same network's fp32 file in the same runtime): latency ÷ fp32.
Default emulated CPU: Haswell-v4 (AVX2 + FMA, no AVX-512, no VNNI). Needs `qemu-x86_64` (Debian: qemu-user).

    python bench/int8_portability.py [--cpu Haswell-v4] [--nets 3] [--hr 32] [--time-hr 128] [--formats onnx,openvino]
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

import numpy as np

MIDDLEBURY = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "middlebury"
OV_FIXES = ("enable", "first_layer_only", "disable")
NO_VNNI_AVX512 = {"ONEDNN_MAX_CPU_ISA": "AVX512_CORE"}


FORMATS = ("onnx", "openvino")


def _variants(formats: Sequence[str] = FORMATS) -> List[Tuple[str, str, str]]:
    """(label, format, option) for every int8 variant measured of `formats`."""
    from dcnas_deploy.export.converters import ONNX_INT8_SCHEMES

    options = {"onnx": list(ONNX_INT8_SCHEMES), "openvino": list(OV_FIXES)}
    return [(f"{fmt} {o}", fmt, o) for fmt in formats for o in options[fmt]]


def _convert(dep, example, feeds, path: Path, fmt: str, option: str) -> Tuple[Path, str]:
    """Write one int8 file of `fmt` with its scheme / overflow fix; returns (path, runtime)."""
    from dcnas_deploy.export.converters import ConvertJob, onnx_int8, openvino_int8

    if fmt == "onnx":
        onnx_int8(ConvertJob(dep, example, path.with_suffix(".onnx"), feeds, onnx_int8_scheme=option), "int8")
        return path.with_suffix(".onnx"), "onnxruntime"
    openvino_int8(ConvertJob(dep, example, path.with_suffix(".xml"), feeds, openvino_overflow_fix=option), "int8")
    return path.with_suffix(".xml"), "openvino"


def _setup(hr: int, n_check: int, scale: int = 8):
    """(space, supernet with perturbed kernel transforms as in the export tests, calibration feeds, check feeds)."""
    import torch

    from dcnas_deploy import SearchSpace, Supernet
    from dcnas_deploy.export.samples import graph_inputs, load_export_data

    spec = f"middlebury:{MIDDLEBURY}" if (MIDDLEBURY / "Depth").is_dir() else "synthetic"
    torch.manual_seed(0)
    space = SearchSpace(width=8, scale=scale, hr_size=(hr, hr))
    net = Supernet(space).eval()
    with torch.no_grad():
        for p in net.parameters():
            if p.dim() == 2 and p.shape[0] == p.shape[1]:
                p.add_(0.05 * torch.randn_like(p))
    data = load_export_data(spec, (hr, hr), scale, n_check=n_check, n_calib=12, seed=0)
    return space, net, [graph_inputs(t) for t in data.calibration], [graph_inputs(t) for t in data.check]


def worst_psnr(folder: Path, nets: int, hr: int, cpu: str, formats: Sequence[str]) -> Dict[str, Dict[str, float]]:
    """Worst PSNR vs PyTorch per variant over nets × 3 crops: natively, as `cpu`, and AVX-512 without VNNI."""
    import torch

    from dcnas_deploy.export.accuracy import psnr_vs_reference
    from dcnas_deploy.export.deployable import Deployable
    from dcnas_deploy.runtimes.emulated import run_files

    space, net, feeds, checks = _setup(hr, 3)
    files, refs, labels = [], [], []
    for i in range(nets):
        dep = Deployable(net.materialize(space.sample(100 + i)).eval())
        with torch.no_grad():
            ref = [dep(torch.from_numpy(lr), torch.from_numpy(g)).numpy() for lr, g in checks]
        example = tuple(torch.from_numpy(a) for a in checks[0])
        for label, fmt, option in _variants(formats):
            files.append(_convert(dep, example, feeds, folder / f"a{i}_{fmt}_{option}", fmt, option))
            refs.append(ref)
            labels.append(label)
    inputs = [{"lr": lr, "guide": g} for lr, g in checks]
    ov_files = [f for f in files if f[1] == "openvino"]
    runs = {"native": run_files(files, inputs, cpu=None), cpu: run_files(files, inputs, cpu=cpu)}
    if ov_files:
        runs["AVX512 no VNNI"] = run_files(ov_files, inputs, cpu=None, env=NO_VNNI_AVX512)
    for name, run in runs.items():
        print(f"{name}: {run.cpu_name}; OpenVINO int8 conv kernels {sorted({k for ks in run.kernels.values() for k in ks if 'I8' in k})}")
    table: Dict[str, Dict[str, float]] = {}
    for (path, _), ref, label in zip(files, refs, labels):
        for name, run in runs.items():
            if str(path) in run.outputs:
                worst = min(psnr_vs_reference(o, r) for o, r in zip(run.outputs[str(path)], ref))
                table.setdefault(label, {})[name] = min(table.get(label, {}).get(name, np.inf), worst)
    return table


def time_variants(folder: Path, hr: int, formats: Sequence[str]) -> Dict[str, Tuple[float, float, float]]:
    """Per variant: (median latency ÷ fp32 in the same runtime, its CI %, fp32 ms); paired turns, 1 thread."""
    import torch

    from dcnas_deploy.export.converters import ConvertJob, backend_convert
    from dcnas_deploy.export.deployable import Deployable
    from dcnas_deploy.runtimes.sessions import load_session, time_sessions_paired

    space, net, feeds, checks = _setup(hr, 1)
    dep = Deployable(net.materialize(space.sample(100)).eval())
    example = tuple(torch.from_numpy(a) for a in checks[0])
    fp32 = {}
    for fmt, runtime, suffix in (("onnx", "onnxruntime", ".onnx"), ("openvino", "openvino", ".xml")):
        if fmt not in formats:
            continue
        backend_convert(runtime)(ConvertJob(dep, example, folder / f"t_fp32{suffix}", feeds), "fp32")
        fp32[runtime] = load_session(folder / f"t_fp32{suffix}", runtime, {"threads": 1})
    out = {}
    for label, fmt, option in _variants(formats):
        path, runtime = _convert(dep, example, feeds, folder / f"t_{fmt}_{option}", fmt, option)
        sess = load_session(path, runtime, {"threads": 1})
        pt = time_sessions_paired(sess, fp32[runtime])
        out[label] = (pt.ratio, pt.ratio_ci_pct, pt.reference.median_ms)
        sess.close()
    for sess in fp32.values():
        sess.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cpu", default="Haswell-v4", help="qemu CPU model to emulate (qemu-x86_64 -cpu help)")
    ap.add_argument("--nets", type=int, default=3)
    ap.add_argument("--hr", type=int, default=32)
    ap.add_argument("--time-hr", type=int, default=128, help="HR size for the speed comparison (0: skip it)")
    ap.add_argument("--formats", default=",".join(FORMATS), help="int8 formats to measure (onnx,openvino)")
    args = ap.parse_args()
    formats = [f for f in args.formats.split(",") if f]
    if not formats or set(formats) - set(FORMATS):
        raise SystemExit(f"--formats: a comma list of {FORMATS}")
    from dcnas_deploy.runtimes.emulated import qemu_binary
    from dcnas_deploy.runtimes.fingerprint import local_cpu

    if qemu_binary() is None:
        raise SystemExit("qemu-x86_64 not found: apt install qemu-user (user-mode emulation of another x86 CPU)")
    with tempfile.TemporaryDirectory(prefix="int8-portability-") as tmp:
        table = worst_psnr(Path(tmp), args.nets, args.hr, args.cpu, formats)
    isa = local_cpu()["isa"]
    cols = ["native", args.cpu, "AVX512 no VNNI"]
    print(f"worst PSNR vs PyTorch over {args.nets} nets × 3 Middlebury crops ({args.hr}x{args.hr}, x8), dB; "
          f"native ISA: {' '.join(f for f in isa if 'vnni' in f or 'avx512f' == f) or 'no VNNI'}")
    print(f"{'variant':26s}" + "".join(f"{c:>16s}" for c in cols))
    for label, row in table.items():
        print(f"{label:26s}" + "".join(f"{row[c]:16.1f}" if c in row else f"{'-':>16s}" for c in cols))
    if args.time_hr:
        with tempfile.TemporaryDirectory(prefix="int8-speed-") as tmp:
            speed = time_variants(Path(tmp), args.time_hr, formats)
        print(f"latency ÷ fp32 of the same runtime on this CPU ({args.time_hr}x{args.time_hr}, x8, 1 thread, "
              "paired turns; > 1 is slower)")
        for label, (ratio, ci, fp32_ms) in speed.items():
            print(f"{label:26s} {ratio:6.2f}×  (±{ci:.1f} %, fp32 {fp32_ms:.1f} ms)")


if __name__ == "__main__":
    main()
