"""Is an ONNX int8 file right on CPUs other than the one that exported it? Each scheme, natively and emulated.

Exports random networks to ONNX int8 in every scheme of `export.converters.ONNX_INT8_SCHEMES`, then runs
each file in ONNX Runtime natively and under `qemu-x86_64 -cpu MODEL` (user-mode emulation: CPUID reports
that CPU, so ONNX Runtime picks that CPU's kernels), and prints the worst PSNR vs PyTorch per scheme. Then times each scheme natively at --time-hr (one network, 1 thread,
in alternating turns with the same network's fp32 file) and prints its latency ÷ fp32's.
Default emulated CPU: Haswell-v4 (AVX2 + FMA, no AVX-512, no VNNI). Needs `qemu-x86_64` (Debian: qemu-user).

    python bench/int8_portability.py [--cpu Haswell-v4] [--nets 3] [--hr 32] [--time-hr 128]
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

MIDDLEBURY = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "middlebury"


def export_files(folder: Path, nets: int, hr: int, scale: int = 8) -> None:
    """Write a{i}_{scheme}.onnx for every scheme, plus a{i}_ref.npz (check inputs and PyTorch outputs)."""
    import onnx
    import torch

    from dcnas_deploy import SearchSpace, Supernet
    from dcnas_deploy.export.converters import ONNX_INT8_SCHEMES, ConvertJob, onnx_int8
    from dcnas_deploy.export.deployable import Deployable
    from dcnas_deploy.export.samples import graph_inputs, load_export_data

    del onnx
    spec = f"middlebury:{MIDDLEBURY}" if (MIDDLEBURY / "Depth").is_dir() else "synthetic"
    torch.manual_seed(0)
    space = SearchSpace(width=8, scale=scale, hr_size=(hr, hr))
    net = Supernet(space).eval()
    with torch.no_grad():
        for p in net.parameters():
            if p.dim() == 2 and p.shape[0] == p.shape[1]:
                p.add_(0.05 * torch.randn_like(p))  # non-identity kernel transforms, as in the export tests
    data = load_export_data(spec, (hr, hr), scale, n_check=3, n_calib=12, seed=0)
    feeds = [graph_inputs(t) for t in data.calibration]
    checks = [graph_inputs(t) for t in data.check]
    for i in range(nets):
        dep = Deployable(net.materialize(space.sample(100 + i)).eval())
        with torch.no_grad():
            refs = [dep(torch.from_numpy(lr), torch.from_numpy(g)).numpy() for lr, g in checks]
        np.savez(folder / f"a{i}_ref.npz", **{f"lr{k}": c[0] for k, c in enumerate(checks)},
                 **{f"g{k}": c[1] for k, c in enumerate(checks)}, **{f"ref{k}": r for k, r in enumerate(refs)})
        example = tuple(torch.from_numpy(a) for a in checks[0])
        for scheme in ONNX_INT8_SCHEMES:
            onnx_int8(ConvertJob(dep, example, folder / f"a{i}_{scheme}.onnx", feeds, scheme), "int8")


def time_schemes(folder: Path, hr: int, scale: int = 8) -> dict:
    """Median latency ÷ fp32 latency (paired turns, 1 thread, this CPU) and its CI per int8 scheme."""
    import torch

    from dcnas_deploy import SearchSpace, Supernet
    from dcnas_deploy.export.converters import ONNX_INT8_SCHEMES, ConvertJob, backend_convert, onnx_int8
    from dcnas_deploy.export.deployable import Deployable
    from dcnas_deploy.export.samples import graph_inputs, load_export_data
    from dcnas_deploy.runtimes.files import load_session, time_sessions_paired

    spec = f"middlebury:{MIDDLEBURY}" if (MIDDLEBURY / "Depth").is_dir() else "synthetic"
    torch.manual_seed(0)
    space = SearchSpace(width=8, scale=scale, hr_size=(hr, hr))
    dep = Deployable(Supernet(space).eval().materialize(space.sample(100)).eval())
    data = load_export_data(spec, (hr, hr), scale, n_check=1, n_calib=12, seed=0)
    feeds = [graph_inputs(t) for t in data.calibration]
    example = tuple(torch.from_numpy(a) for a in graph_inputs(data.check[0]))
    backend_convert("onnxruntime")(ConvertJob(dep, example, folder / "t_fp32.onnx", feeds), "fp32")
    fp32 = load_session(folder / "t_fp32.onnx", "onnxruntime", {"threads": 1})
    out = {}
    for scheme in ONNX_INT8_SCHEMES:
        onnx_int8(ConvertJob(dep, example, folder / f"t_{scheme}.onnx", feeds, scheme), "int8")
        sess = load_session(folder / f"t_{scheme}.onnx", "onnxruntime", {"threads": 1})
        pt = time_sessions_paired(sess, fp32)
        out[scheme] = (pt.ratio, pt.ratio_ci_pct, pt.reference.median_ms)
        sess.close()
    fp32.close()
    return out


def run_files(folder: Path) -> dict:
    """Worst PSNR vs PyTorch per scheme over the nets, on whatever CPU this process sees (ORT only)."""
    import onnxruntime as ort

    worst: dict = {}
    for path in sorted(folder.glob("a*_*.onnx")):
        net, scheme = path.stem.split("_", 1)
        d = np.load(folder / f"{net}_ref.npz")
        so = ort.SessionOptions()
        so.intra_op_num_threads = 1
        sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
        names = [i.name for i in sess.get_inputs()]
        for k in range(3):
            out = sess.run(None, dict(zip(names, (d[f"lr{k}"], d[f"g{k}"]))))[0]
            ref = d[f"ref{k}"]
            mse = float(np.mean((out.astype(np.float64) - ref) ** 2))
            psnr = 10 * np.log10(float(ref.max() - ref.min()) ** 2 / max(mse, 1e-30))
            worst[scheme] = min(worst.get(scheme, np.inf), psnr)
    return worst


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cpu", default="Haswell-v4", help="qemu CPU model to emulate (qemu-x86_64 -cpu help)")
    ap.add_argument("--nets", type=int, default=3)
    ap.add_argument("--hr", type=int, default=32)
    ap.add_argument("--time-hr", type=int, default=128, help="HR size for the speed comparison (0: skip it)")
    ap.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(run_files(args.child)))
        return
    qemu = shutil.which("qemu-x86_64")
    if qemu is None:
        sys.exit("qemu-x86_64 not found: apt install qemu-user (user-mode emulation of another x86 CPU)")
    from dcnas_deploy.runtimes.fingerprint import local_cpu

    with tempfile.TemporaryDirectory(prefix="int8-portability-") as tmp:
        folder = Path(tmp)
        export_files(folder, args.nets, args.hr)
        cmd = [sys.executable, __file__, "--child", str(folder)]
        native = json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout)
        emulated = json.loads(subprocess.run([qemu, "-cpu", args.cpu] + cmd, capture_output=True, text=True,
                                             check=True).stdout)
    isa = local_cpu()["isa"]
    print(f"worst PSNR vs PyTorch over {args.nets} nets × 3 Middlebury crops ({args.hr}x{args.hr}, x8), dB")
    print(f"{'scheme':14s} {'native':>8s} {args.cpu:>12s}   native ISA: {' '.join(f for f in isa if 'vnni' in f or 'avx512f' == f) or 'no VNNI'}")
    for scheme in native:
        print(f"{scheme:14s} {native[scheme]:8.1f} {emulated[scheme]:12.1f}")
    if args.time_hr:
        with tempfile.TemporaryDirectory(prefix="int8-speed-") as tmp:
            speed = time_schemes(Path(tmp), args.time_hr)
        print(f"latency ÷ fp32 on this CPU ({args.time_hr}x{args.time_hr}, x8, 1 thread, paired turns; > 1 is slower)")
        for scheme, (ratio, ci, fp32_ms) in speed.items():
            print(f"{scheme:14s} {ratio:6.2f}×  (±{ci:.1f} %, fp32 {fp32_ms:.1f} ms)")


if __name__ == "__main__":
    main()
