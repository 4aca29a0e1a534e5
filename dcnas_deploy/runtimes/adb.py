"""`connection: adb`: time .tflite files on an Android phone with TFLite's `benchmark_model`.

Per file: push it to the phone, run `benchmark_model` there (threads, XNNPACK / GPU / NNAPI from the
device profile, optional `taskset` CPU affinity, the shared measurement protocol mapped onto its
flags), parse what it prints, remove the file. `info()` records the phone's model, SoC, CPU
governor and temperatures where readable.

What it prints is parsed by runtimes.adb_output (formats listed there).
"""
from __future__ import annotations

import re
import secrets
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Dict, List, Mapping, Optional, Sequence, Tuple

from dcnas_deploy.errors import ConfigError, DeviceError
from dcnas_deploy.runtimes.adb_output import (BenchmarkModelResult, parse_adb_devices, parse_benchmark_output,
                                              parse_getprop, parse_thermal)
from dcnas_deploy.runtimes.connections import Connection, Progress
from dcnas_deploy.runtimes.sessions import FeedsOrShapes
from dcnas_deploy.runtimes.fingerprint import parse_cpuinfo
from dcnas_deploy.runtimes.protocol import FIXED_LEGACY, Protocol, Timing

_MASK = re.compile(r"^[0-9a-fA-F]+$")
_EXTRA_ARG = re.compile(r"^--[A-Za-z0-9_]+=[A-Za-z0-9_.,:/+-]*$")
_SAFE_REMOTE = re.compile(r"^/[A-Za-z0-9_./-]+$")
_BOOL = {True: "true", False: "false"}
GETPROP_KEYS = ("ro.product.manufacturer", "ro.product.model", "ro.product.device", "ro.soc.manufacturer",
                "ro.soc.model", "ro.board.platform", "ro.hardware", "ro.product.cpu.abi",
                "ro.build.version.release", "ro.build.version.sdk", "ro.build.fingerprint")
"""Phone properties recorded as provenance."""
THERMAL_SCRIPT = ('for z in /sys/class/thermal/thermal_zone*; do '
                  'echo "$(cat $z/type 2>/dev/null) $(cat $z/temp 2>/dev/null)"; done')
GOVERNOR_SCRIPT = "cat /sys/devices/system/cpu/cpu*/cpufreq/scaling_governor"
_STATE_HINTS = {
    "unauthorized": "unlock the phone and accept the 'Allow USB debugging' prompt (RSA key)",
    "offline": "reconnect the cable, or run `adb kill-server` and try again",
    "no permissions": "the USB device is not accessible to this user: add a udev rule for the phone "
                      "(or run `adb kill-server` and start it as a user who may use the device)",
    "recovery": "the phone is in recovery mode: boot it normally",
    "bootloader": "the phone is in the bootloader: boot it normally",
    "sideload": "the phone is in sideload mode: boot it normally",
}


@dataclass
class AdbRun:
    """One adb invocation's result."""

    args: List[str]
    returncode: int
    stdout: str
    stderr: str


class AdbConnection(Connection):
    """Measure .tflite files on an Android phone with benchmark_model over adb."""

    kind = "adb"
    KEYS: ClassVar[Mapping[str, Any]] = {
        "serial": None,
        "adb": "adb",
        "benchmark_binary": "/data/local/tmp/benchmark_model",
        "remote_dir": "/data/local/tmp/dcnas",
        "cpu_affinity": None,
        "op_profiling": False,
        "max_secs": 150.0,
        "timeout_s": 900.0,
        "extra_args": [],
    }
    """serial: which phone (needed when several are attached); adb: adb executable; benchmark_binary:
    benchmark_model's path on the phone; remote_dir: where files are pushed (a fresh subfolder per
    measure call, removed after); cpu_affinity: hex mask for `taskset` (e.g. 'f0' = CPUs 4-7);
    op_profiling: also parse per-op times; max_secs: benchmark_model's cap per phase; timeout_s:
    per adb call; extra_args: more benchmark_model flags ('--name=value')."""

    @classmethod
    def validate(cls, config: Mapping[str, Any], source: str) -> Dict[str, Any]:
        """Check the adb connection keys (values reach a shell on the phone: only safe characters)."""
        merged = super().validate(config, source)
        for key in ("benchmark_binary", "remote_dir"):
            if not isinstance(merged[key], str) or not _SAFE_REMOTE.match(merged[key]):
                raise ConfigError(f"{source}: connection.{key} must be an absolute phone path of letters, digits "
                                  f"and ._/-, got {merged[key]!r}")
        mask = merged.get("cpu_affinity")
        if mask is not None and not _MASK.match(str(mask)):
            raise ConfigError(f"{source}: connection.cpu_affinity must be a hex CPU mask like 'f0', got {mask!r}")
        extra = merged.get("extra_args") or []
        if not isinstance(extra, list) or not all(isinstance(a, str) and _EXTRA_ARG.match(a) for a in extra):
            raise ConfigError(f"{source}: connection.extra_args must be a list of '--flag=value' strings "
                              f"(letters, digits and _.,:/+- only), got {extra!r}")
        for key in ("max_secs", "timeout_s"):
            if not isinstance(merged[key], (int, float)) or merged[key] <= 0:
                raise ConfigError(f"{source}: connection.{key} must be a positive number, got {merged[key]!r}")
        serial = merged.get("serial")
        if serial is not None and not re.match(r"^[A-Za-z0-9._:-]+$", str(serial)):
            raise ConfigError(f"{source}: connection.serial {serial!r} is not an adb serial")
        return merged

    def __init__(self, profile):
        super().__init__(profile)
        if profile.runtime != "litert":
            raise ConfigError(f"device {profile.name}: connection 'adb' runs benchmark_model, which times .tflite "
                              f"files: the runtime must be litert, not {profile.runtime}")
        self.last_results: List[BenchmarkModelResult] = []
        self._serial: Optional[str] = self.config.get("serial")

    # ------------------------------------------------------------------ adb plumbing

    def _adb_path(self) -> str:
        found = shutil.which(str(self.config["adb"]))
        if not found:
            raise DeviceError(f"adb not found ({self.config['adb']!r} is not on PATH): install Android platform-tools "
                              "(e.g. `apt install adb`) or set connection.adb to its path")
        return found

    def adb(self, *args: str, timeout: Optional[float] = None, check: bool = True, use_serial: bool = True) -> AdbRun:
        """Run `adb [-s SERIAL] ARGS...`; DeviceError with adb's own message when it fails (if `check`)."""
        serial = ["-s", self._serial] if self._serial and use_serial else []
        cmd = [self._adb_path()] + serial + list(args)
        try:
            proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                                  timeout=timeout or float(self.config["timeout_s"]))
        except subprocess.TimeoutExpired:
            raise DeviceError(f"`adb {' '.join(args[:2])} ...` did not finish within "
                              f"{timeout or self.config['timeout_s']} s") from None
        run = AdbRun(list(args), proc.returncode, proc.stdout, proc.stderr)
        if check and proc.returncode != 0:
            raise DeviceError(f"`adb {' '.join(args)}` failed (exit {proc.returncode}): "
                              f"{(proc.stderr or proc.stdout).strip()[-500:]}")
        return run

    def shell(self, command: str, timeout: Optional[float] = None, check: bool = True) -> AdbRun:
        """`adb shell COMMAND` (one string, run by the phone's shell)."""
        return self.adb("shell", command, timeout=timeout, check=check)

    # ------------------------------------------------------------------ Connection interface

    def reachable(self) -> Tuple[bool, str]:
        """adb present, exactly one usable phone (or the named one), benchmark_model there."""
        try:
            devices = parse_adb_devices(self.adb("devices", timeout=30, use_serial=False).stdout)
        except DeviceError as exc:
            return False, str(exc)
        wanted = self.config.get("serial")
        if wanted:
            devices = [d for d in devices if d[0] == wanted]
            if not devices:
                return False, f"phone {wanted} is not attached (`adb devices` does not list it)"
        if not devices:
            return False, "no Android device attached (`adb devices` lists none): plug in the phone and enable USB debugging"
        usable = [s for s, state in devices if state == "device"]
        if not usable:
            serial, state = devices[0]
            hint = next((h for k, h in _STATE_HINTS.items() if state.startswith(k)), "")
            return False, f"phone {serial} is {state}" + (f": {hint}" if hint else "")
        if len(usable) > 1:
            return False, f"several phones attached {usable}: set connection.serial in the device profile"
        self._serial = usable[0]
        binary = self.config["benchmark_binary"]
        try:
            check = self.shell(f"test -x {binary} && echo dcnas-ok || echo dcnas-missing", timeout=30)
        except DeviceError as exc:
            return False, str(exc)
        if "dcnas-ok" not in check.stdout:
            return False, (f"benchmark_model not found (or not executable) at {binary} on {self._serial}: download "
                           "the android_aarch64 benchmark_model binary, `adb push benchmark_model "
                           f"{binary}` and `adb shell chmod +x {binary}`, or set connection.benchmark_binary")
        return True, f"phone {self._serial}, benchmark_model at {binary}"

    def info(self) -> Dict[str, Any]:
        """Phone provenance: model, SoC, Android version, CPU governor(s), temperatures (None if unreadable)."""
        props: Dict[str, str] = {}
        try:
            props = parse_getprop(self.shell("getprop", timeout=30).stdout)
        except DeviceError:
            pass
        try:
            governors = sorted(set(self.shell(GOVERNOR_SCRIPT, timeout=30).stdout.split())) or None
        except DeviceError:
            governors = None
        try:
            thermal = parse_thermal(self.shell(THERMAL_SCRIPT, timeout=30).stdout) or None
        except DeviceError:
            thermal = None
        try:
            cpuinfo = self.shell("cat /proc/cpuinfo", timeout=30).stdout
            cpu_facts = dict(parse_cpuinfo(cpuinfo), machine=props.get("ro.product.cpu.abi"), caches={},
                             cores=sum(1 for line in cpuinfo.splitlines() if line.lower().startswith("processor")))
        except DeviceError:
            cpu_facts = None
        soc = props.get("ro.soc.model") or props.get("ro.board.platform") or props.get("ro.hardware")
        cpu_zones = {k: v for k, v in (thermal or {}).items() if re.search(r"cpu|soc|tsens", k, re.I)}
        return {
            "hostname": " ".join(p for p in (props.get("ro.product.manufacturer"), props.get("ro.product.model")) if p)
                        or self._serial,
            "cpu": soc, "os": f"Android {props.get('ro.build.version.release')} (SDK {props.get('ro.build.version.sdk')})"
            if props else None,
            "machine": props.get("ro.product.cpu.abi"), "serial": self._serial,
            "properties": {k: props[k] for k in GETPROP_KEYS if k in props},
            "cpu_governor": governors, "temperatures_c": thermal, "cpu_facts": cpu_facts,
            "max_cpu_temperature_c": max(cpu_zones.values()) if cpu_zones else None,
            "runtimes": {"litert": "benchmark_model at " + str(self.config["benchmark_binary"])},
            "threads": self.profile.threads, "cpu_affinity": self.config.get("cpu_affinity"),
            "timing_statistic": "median_ms is benchmark_model's median where it prints one (newer LiteRT), "
                                "else its mean; p10/p90 are NaN (it prints neither)",
        }

    def benchmark_args(self, remote_graph: str, protocol: Protocol,
                       shapes: Optional[Mapping[str, Sequence[int]]] = None) -> List[str]:
        """The benchmark_model command line (as run by the phone's shell) for one file."""
        device = self.profile.runtime_device
        precision_loss = _BOOL[self.profile.precision == "fp16"]
        args: List[str] = []
        if self.config.get("cpu_affinity"):
            args += ["taskset", str(self.config["cpu_affinity"])]
        args += [str(self.config["benchmark_binary"]), f"--graph={remote_graph}",
                 f"--num_threads={self.profile.threads}",
                 f"--use_xnnpack={_BOOL[bool(self.profile.options.get('xnnpack', True)) and device == 'cpu']}",
                 f"--use_gpu={_BOOL[device == 'gpu']}", f"--use_nnapi={_BOOL[device == 'nnapi']}"]
        if device == "gpu":
            args.append(f"--gpu_precision_loss_allowed={precision_loss}")
        if device == "nnapi":
            args.append(f"--nnapi_allow_fp16={precision_loss}")
        # benchmark_model cannot stop on a confidence interval: an adaptive protocol gets the fixed floors
        fixed = FIXED_LEGACY if protocol.target_ci_pct > 0 else protocol
        args += [f"--warmup_runs={fixed.warmup_runs}", f"--warmup_min_secs={fixed.warmup_s:g}",
                 f"--num_runs={fixed.timed_runs}", f"--min_secs={fixed.timed_s:g}",
                 f"--max_secs={float(self.config['max_secs']):g}"]
        if shapes:
            args += ["--input_layer=" + ",".join(shapes),
                     "--input_layer_shape=" + ":".join(",".join(str(int(d)) for d in s) for s in shapes.values())]
        if self.config.get("op_profiling"):
            args.append("--enable_op_profiling=true")
        args += list(self.config.get("extra_args") or [])
        return args

    def measure(self, files: Sequence[Path], protocol: Protocol = Protocol(),
                feeds_or_shapes: Optional[Sequence[Optional[FeedsOrShapes]]] = None,
                progress: Optional[Progress] = None) -> List[Timing]:
        """Push, benchmark and remove each file in turn; one Timing per file (see module doc for its meaning)."""
        files = [Path(f) for f in files]
        if feeds_or_shapes is not None and len(feeds_or_shapes) != len(files):
            raise ConfigError(f"{len(feeds_or_shapes)} feeds/shapes entries for {len(files)} files")
        shapes = [_shapes(f, fs) for f, fs in zip(files, feeds_or_shapes)] if feeds_or_shapes is not None \
            else [None] * len(files)
        for f in files:
            if f.suffix.lower() != ".tflite":
                raise ConfigError(f"{f.name}: benchmark_model over adb times .tflite files only")
            if not f.is_file():
                raise ConfigError(f"model file not found: {f}")
        ok, why = self.reachable()
        if not ok:
            raise DeviceError(f"device {self.profile.name} is not reachable: {why}")
        remote_dir = "%s/%s" % (str(self.config["remote_dir"]).rstrip("/"), secrets.token_hex(4))
        self.last_results = []
        timings: List[Timing] = []
        self.shell(f"mkdir -p {remote_dir}")
        try:
            for i, (path, shp) in enumerate(zip(files, shapes)):
                remote = "%s/%04d%s" % (remote_dir, i, ".tflite")
                self.adb("push", str(path), remote)
                try:
                    run = self.shell(" ".join(self.benchmark_args(remote, protocol, shp)), check=False)
                finally:
                    self.shell(f"rm -f {remote}")
                try:
                    result = parse_benchmark_output(run.stdout + "\n" + run.stderr)
                    if run.returncode != 0:
                        raise DeviceError(f"benchmark_model exited with {run.returncode}: "
                                          + (" | ".join(result.warnings[:5]) or "no error message"))
                except DeviceError as exc:
                    raise DeviceError(f"{path.name} on {self.profile.name}: {exc}") from None
                self.last_results.append(result)
                timings.append(result.timing())
                if progress is not None:
                    progress(i + 1, len(files), path)
        finally:
            try:
                self.shell(f"rm -rf {remote_dir}", timeout=60)
            except DeviceError:
                pass
        return timings


def _shapes(path: Path, feeds_or_shapes: Optional[FeedsOrShapes]) -> Optional[Dict[str, List[int]]]:
    """Input shapes for --input_layer/--input_layer_shape (benchmark_model makes its own random data)."""
    if feeds_or_shapes is None:
        return None
    if not isinstance(feeds_or_shapes, Mapping):
        raise ConfigError(f"{path.name}: adb needs input shapes by input name (benchmark_model's --input_layer), "
                          "not a positional list")
    out = {}
    for name, value in feeds_or_shapes.items():
        if hasattr(value, "shape") and hasattr(value, "dtype"):
            raise ConfigError(f"{path.name}: benchmark_model feeds its own random data; give the shape of input "
                              f"{name!r}, not an array")
        if not re.match(r"^[A-Za-z0-9_./:-]+$", str(name)):
            raise ConfigError(f"{path.name}: input name {name!r} cannot be passed to benchmark_model safely")
        out[str(name)] = [int(d) for d in value]
    return out
