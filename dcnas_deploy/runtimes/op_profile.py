"""Where a model file's time goes, op by op, in one runtime; and the host's 1-thread sgemm rate to compare with.

`op_profile(path, runtime, feeds, runs)` → a list of `OpTime(name, op_type, ms)`, each op's median over
`runs` inferences:

- ``onnxruntime``: the session's own profiler (SessionOptions.enable_profiling; the JSON's Node events,
  ``*_kernel_time``), the first runs dropped as warm-up;
- ``openvino``: the CPU plugin's per-layer counters (PERF_COUNT=YES, `InferRequest.profiling_info`) of
  each run, layers that ran (status EXECUTED, time > 0) only; names are the compiled graph's (fused layers);
- ``litert``: the interpreter has no profiler in Python, so each operator of the file is cut out as its
  own one-op model (its non-constant inputs become the model's inputs) and timed alone in an interpreter
  with the same options (XNNPACK on by default): *sliced-subgraph* times. They miss what the whole graph
  shares (XNNPACK fuses and elides layout ops across operators, caches stay warm between ops), so their
  sum is an estimate: compare it with the end-to-end time;
- ``torch``: not here (an eager module is profiled by torch.profiler, not from a file).

`by_type(ops)` aggregates per op type; `sgemm_gflops()` is the 1-thread fp32 matmul rate of this host,
the peak an op-level GFLOP/s figure is read against. Torch-free apart from `sgemm_gflops` (lazy import).
"""
from __future__ import annotations

import json
import statistics
import time
from collections import defaultdict
from pathlib import Path
from typing import Any, Dict, List, Mapping, NamedTuple, Optional, Union

from dcnas_deploy.errors import ConfigError, require
from dcnas_deploy.runtimes.sessions import FeedsOrShapes, OnnxRuntimeSession, OpenVinoSession, load_session, make_feeds
from dcnas_deploy.runtimes.protocol import Protocol, measure

PROFILED_RUNTIMES = ("onnxruntime", "openvino", "litert")
METHODS = {"onnxruntime": "ORT profiler (enable_profiling, Node kernel_time events)",
           "openvino": "OpenVINO per-layer counters (PERF_COUNT=YES, profiling_info)",
           "litert": "sliced subgraphs: each operator timed alone as a one-op model (estimate)"}
"""How each runtime's op times are obtained (for reports)."""


class OpTime(NamedTuple):
    """One op of a profiled model: its name in the runtime's graph, its type, its median time per run (ms)."""

    name: str
    op_type: str
    ms: float


class OpProfile(NamedTuple):
    """`ops` of one profiled model and `run_ms`, the median wall time of the whole model measured alongside
    (ORT, OpenVINO: the profiled runs themselves, profiler on; LiteRT: the whole file timed just before
    slicing), so `total_ms(ops) / run_ms` compares times taken under the same load."""

    ops: List[OpTime]
    run_ms: float


def op_profile(path: Union[str, Path], runtime: str, feeds: Optional[FeedsOrShapes] = None, runs: int = 20,
               threads: int = 1, options: Optional[Mapping[str, Any]] = None, warmup: int = 3) -> List[OpTime]:
    """Per-op median times (ms) of one model file in `runtime` over `runs` inferences after `warmup` ones.

    `feeds` as for `sessions.make_feeds` (arrays, shapes, or None for random data of the model's shapes);
    `options`: further session options of the runtime (threads is set from `threads`). Ops in graph order.
    """
    return profile_ops(path, runtime, feeds, runs, threads, options, warmup).ops


def profile_ops(path: Union[str, Path], runtime: str, feeds: Optional[FeedsOrShapes] = None, runs: int = 20,
                threads: int = 1, options: Optional[Mapping[str, Any]] = None, warmup: int = 3) -> OpProfile:
    """`op_profile` with the whole model's median wall time measured alongside (see `OpProfile`)."""
    if runs < 1:
        raise ConfigError(f"op_profile needs runs >= 1, got {runs}")
    opts = dict(options or {}, threads=int(threads))
    if runtime == "onnxruntime":
        return _ort(Path(path), feeds, runs, warmup, opts)
    if runtime == "openvino":
        return _openvino(Path(path), feeds, runs, warmup, opts)
    if runtime == "litert":
        return _litert(Path(path), feeds, runs, warmup, opts)
    raise ConfigError(f"op_profile covers {list(PROFILED_RUNTIMES)}, not {runtime!r}")


def by_type(ops: List[OpTime], kernels: bool = False) -> Dict[str, float]:
    """Total ms per op type, largest first; `kernels`: convolutions split by the kernel their name ends with
    (LiteRT's sliced ops are named '...[7x7]'), e.g. 'DEPTHWISE_CONV_2D[7x7]'."""
    totals: Dict[str, float] = defaultdict(float)
    for op in ops:
        kernel = op.name[op.name.rindex("["):] if kernels and op.name.endswith("]") and "[" in op.name else ""
        totals[op.op_type + kernel] += op.ms
    return dict(sorted(totals.items(), key=lambda kv: -kv[1]))


def total_ms(ops: List[OpTime]) -> float:
    """Sum of the ops' medians."""
    return float(sum(op.ms for op in ops))


def _medians(times: Mapping[str, List[float]], types: Mapping[str, str]) -> List[OpTime]:
    return [OpTime(name, types[name], statistics.median(v)) for name, v in times.items() if v]


# --------------------------------------------------------------------------------------------
# ONNX Runtime
# --------------------------------------------------------------------------------------------

def _ort(path: Path, feeds: Optional[FeedsOrShapes], runs: int, warmup: int, opts: Dict[str, Any]) -> OpProfile:
    session = load_session(path, "onnxruntime", dict(opts, profile=True))
    assert isinstance(session, OnnxRuntimeSession)
    run = session.prepare(make_feeds(session.inputs, feeds))
    walls = []
    for _ in range(warmup + runs):
        t0 = time.perf_counter()
        run()
        walls.append((time.perf_counter() - t0) * 1e3)
    trace = Path(session._sess.end_profiling())  # noqa: SLF001 - the session's own ORT object
    try:
        events = json.loads(trace.read_text())
    finally:
        trace.unlink(missing_ok=True)
        session.close()
    return OpProfile(parse_ort_trace(events, skip=warmup), statistics.median(walls[warmup:]))


def parse_ort_trace(events: List[Dict[str, Any]], skip: int = 0) -> List[OpTime]:
    """Per-node medians (ms) of an ORT profile's Node kernel_time events, each node's first `skip` dropped."""
    times: Dict[str, List[float]] = {}
    types: Dict[str, str] = {}
    seen: Dict[str, int] = defaultdict(int)
    for ev in events:
        name = str(ev.get("name", ""))
        if ev.get("cat") != "Node" or not name.endswith("_kernel_time"):
            continue
        node = name[: -len("_kernel_time")]
        seen[node] += 1
        times.setdefault(node, [])
        types[node] = str((ev.get("args") or {}).get("op_name", "?"))
        if seen[node] > skip:
            times[node].append(float(ev.get("dur", 0)) / 1e3)
    return _medians(times, types)


# --------------------------------------------------------------------------------------------
# OpenVINO
# --------------------------------------------------------------------------------------------

def _openvino(path: Path, feeds: Optional[FeedsOrShapes], runs: int, warmup: int, opts: Dict[str, Any]
              ) -> OpProfile:
    session = load_session(path, "openvino", dict(opts, profile=True))
    assert isinstance(session, OpenVinoSession)
    try:
        run = session.prepare(make_feeds(session.inputs, feeds))
        request = session._request  # noqa: SLF001 - the session's own infer request
        for _ in range(warmup):
            run()
        times: Dict[str, List[float]] = {}
        types: Dict[str, str] = {}
        walls = []
        for _ in range(runs):
            t0 = time.perf_counter()
            run()
            walls.append((time.perf_counter() - t0) * 1e3)
            for info in request.profiling_info:
                if "EXECUTED" not in str(info.status) or "NOT" in str(info.status):
                    continue
                ms = info.real_time.total_seconds() * 1e3
                times.setdefault(info.node_name, []).append(ms)
                types[info.node_name] = str(info.node_type)
    finally:
        session.close()
    return OpProfile([op for op in _medians(times, types) if op.ms > 0], statistics.median(walls))


# --------------------------------------------------------------------------------------------
# LiteRT: sliced subgraphs
# --------------------------------------------------------------------------------------------

def _flatbuffer_utils():
    return require("ai_edge_litert.tools.flatbuffer_utils", "tflite")


def _litert(path: Path, feeds: Optional[FeedsOrShapes], runs: int, warmup: int, opts: Dict[str, Any]
            ) -> OpProfile:
    """Each operator of subgraph 0 as a one-op model, timed alone (median of `runs`) with the same options."""
    import numpy as np

    from dcnas_deploy.runtimes.sessions import LiteRtSession

    fb = _flatbuffer_utils()
    model = fb.read_model(str(path))
    graph = model.subgraphs[0]
    buffers = list(model.buffers)

    def is_constant(t: Any) -> bool:
        data = buffers[t.buffer].data if t.buffer is not None and 0 < t.buffer < len(buffers) else None
        return data is not None and len(data) > 0

    protocol = Protocol(warmup_runs=warmup, warmup_s=0.0, timed_runs=runs, timed_s=0.0, max_runs=runs,
                        max_s=1e9, target_ci_pct=0.0)
    whole = LiteRtSession(path, opts)
    run_ms = measure(whole.prepare(make_feeds(whole.inputs, feeds)), protocol).median_ms
    whole.close()
    rng = np.random.default_rng(0)
    out: List[OpTime] = []
    folder = _scratch_dir()
    try:
        for k, op in enumerate(graph.operators):
            one = folder / f"op{k}.tflite"
            one.write_bytes(_one_op_model(fb, model, graph, op, is_constant))
            op_type = str(fb.opcode_to_name(model, op.opcodeIndex) or "?")
            out_name = _short_name(_tensor_name(graph.tensors[op.outputs[0]])) if len(op.outputs) else ""
            if "CONV" in op_type and len(op.inputs) > 1 and op.inputs[1] >= 0:
                kshape = list(graph.tensors[op.inputs[1]].shape)  # OHWI / 1HWO filter: show its kernel
                out_name += f"[{kshape[1]}x{kshape[2]}]" if len(kshape) == 4 else ""
            session = LiteRtSession(one, opts)
            op_feeds = {}
            for spec in session.inputs:
                shape = tuple(1 if d is None else d for d in spec.shape)
                dtype = np.dtype(spec.dtype)
                op_feeds[spec.name] = (rng.random(shape, dtype=np.float32).astype(dtype) if dtype.kind == "f"
                                       else np.zeros(shape, dtype=dtype))
            timing = measure(session.prepare(op_feeds), protocol)
            session.close()
            one.unlink()
            out.append(OpTime(f"{k}:{op_type}:{out_name}", op_type, timing.median_ms))
    finally:
        _remove_dir(folder)
    return OpProfile(out, run_ms)  # the sliced ops took random data of their own input shapes


def _one_op_model(fb: Any, model: Any, graph: Any, op: Any, is_constant: Any) -> bytes:
    """A model holding only `op` of `graph`: its tensors (indices remapped), their weights, its operator codes;
    its non-constant inputs are the model's inputs, its outputs the model's outputs."""
    import copy

    tensors = [i for i in list(op.inputs) + list(op.outputs) if i >= 0]
    index = {t: j for j, t in enumerate(dict.fromkeys(tensors))}
    new_tensors, new_buffers = [], [type(model.buffers[0])()]  # buffer 0: the empty sentinel
    for t in index:
        tensor = copy.copy(graph.tensors[t])
        if is_constant(tensor):
            new_buffers.append(model.buffers[tensor.buffer])
            tensor.buffer = len(new_buffers) - 1
        else:
            tensor.buffer = 0
        new_tensors.append(tensor)
    one_op = copy.copy(op)
    one_op.inputs = [index[i] if i >= 0 else -1 for i in op.inputs]
    one_op.outputs = [index[i] for i in op.outputs if i >= 0]
    sub = copy.copy(graph)
    sub.tensors, sub.operators = new_tensors, [one_op]
    sub.inputs = [index[i] for i in op.inputs if i >= 0 and not is_constant(graph.tensors[i])]
    sub.outputs = list(one_op.outputs)
    sliced = copy.copy(model)
    sliced.subgraphs, sliced.buffers, sliced.signatureDefs = [sub], new_buffers, []
    return bytes(fb.convert_object_to_bytearray(sliced))


def _tensor_name(tensor: Any) -> str:
    name = tensor.name
    return name.decode() if isinstance(name, bytes) else str(name or "")


def _short_name(name: str) -> str:
    """litert-torch's fused location names ('pkg.mod.SubNet/pkg.Sequential_decoder_s0/pkg.MobileBlock_1;;...;4')
    cut to their first location's last two modules ('Sequential_decoder_s0/MobileBlock_1')."""
    parts = [p.rsplit(".", 1)[-1] for p in name.split(";")[0].split("/") if p]
    return "/".join(parts[-2:])


def _scratch_dir() -> Path:
    import tempfile

    return Path(tempfile.mkdtemp(prefix="dcnas-litert-ops-"))


def _remove_dir(folder: Path) -> None:
    import shutil

    shutil.rmtree(folder, ignore_errors=True)


# --------------------------------------------------------------------------------------------
# the host's matmul peak
# --------------------------------------------------------------------------------------------

SGEMM_SIZES = (256, 512, 1024)


def sgemm_gflops(threads: int = 1, sizes=SGEMM_SIZES, protocol: Optional[Protocol] = None) -> Dict[str, Any]:
    """This host's fp32 matmul rate with `threads` threads (torch.mm, n×n·n×n, best of `sizes`).

    Returns {"gflops": best, "n": its size, "per_size": {n: GFLOP/s}, "threads": threads}; 2·n³ flops per
    product, the median time under `protocol` (default: ≥ 10 runs, ≥ 0.3 s each size).
    """
    torch = require("torch", "all")
    from dcnas_deploy.runtimes.sessions import set_torch_threads

    before = torch.get_num_threads()
    set_torch_threads(int(threads))
    per_size: Dict[int, float] = {}
    try:
        gen = torch.Generator().manual_seed(0)
        for n in sizes:
            a = torch.rand(n, n, generator=gen)
            b = torch.rand(n, n, generator=gen)
            c = torch.empty(n, n)
            t = measure(lambda: torch.mm(a, b, out=c), protocol or Protocol(max_s=1.0, target_ci_pct=0.0))
            per_size[int(n)] = 2.0 * n ** 3 / (t.median_ms * 1e-3) / 1e9
    finally:
        torch.set_num_threads(before)
    best = max(per_size, key=lambda n: per_size[n])
    return {"gflops": per_size[best], "n": best, "per_size": per_size, "threads": int(threads),
            "how": "torch.mm fp32, median time"}

