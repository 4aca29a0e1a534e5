"""What decides a device's speed, recorded with every measurement, and whether two hosts match on it.

A CPU's marketing name hides its generation inside a VM ("AMD EPYC" has come with AVX-512/VNNI and
with AVX2 only), so a host is keyed by vendor, family/model, the ISA extensions that change kernels
(and int8/float results), core count, caches, the runtime and its version, and the thread count.
Fields are `hard` (a mismatch refuses reuse of a LUT) or `soft` (reported, not refused).

Torch-free and Python 3.8 compatible: the device agent reports its host with it too.
"""
from __future__ import annotations

import os
import platform
import re
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional

ISA_FLAGS = (
    # x86: vector width, FMA, int8 dot products (VNNI), bf16/fp16 compute, AMX tiles
    "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx_vnni", "avx512_bf16",
    "avx512_fp16", "amx_tile", "amx_int8", "amx_bf16", "amx_fp16",
    # ARM (/proc/cpuinfo "Features"): dot product, fp16 arithmetic, int8 matmul, SVE, bf16
    "asimd", "asimddp", "asimdhp", "fphp", "i8mm", "sve", "sve2", "bf16",
)
"""CPU feature flags that select different kernels in the runtimes we measure."""

HARD_FIELDS = ("machine", "cpu_vendor", "cpu_family", "cpu_model", "cpu_part", "isa", "runtime",
               "runtime_version", "threads", "accelerator", "graph_forms", "emulation")
"""A mismatch in any of these refuses reuse: another generation, kernel set, runtime, thread count, another form
of the graph the runtime is given (GRAPH_FORMS), or an emulated host for a real one (`emulation`)."""

EMULATION_ENV = "DCNAS_EMULATED"
"""Set (to a description, e.g. 'qemu-user aarch64') by whoever starts an emulated host: the declared form of
`emulation()`, for emulators that hide the kernel's architecture too."""

GRAPH_FORMS = {"litert": "litert-forms/1: 7x7 depthwise split in three, pixel shuffle by row phases"}
"""Per runtime, the version of the exact op rewrites its converter applies (model.litert_forms for LiteRT): a table
timed with other forms of the ops times another graph. Bump it when those forms change."""

SOFT_FIELDS = ("cpu_name", "cpu_stepping", "cores", "caches", "governor")
"""Reported when they differ (e.g. a VM's reported cache size), not refused."""


def parse_cpuinfo(text: str) -> Dict[str, Any]:
    """CPU identity and ISA flags from /proc/cpuinfo text (x86 and ARM layouts; first processor)."""
    fields: Dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if not sep:
            continue
        key = key.strip().lower()
        if key and key not in fields and value.strip():
            fields[key] = value.strip()
    flags = set((fields.get("flags") or fields.get("features") or "").split())
    return {
        "cpu_name": fields.get("model name") or fields.get("hardware") or fields.get("cpu model"),
        "cpu_vendor": fields.get("vendor_id") or _arm_implementer(fields.get("cpu implementer")),
        "cpu_family": fields.get("cpu family") or fields.get("cpu architecture"),
        "cpu_model": fields.get("model") if (fields.get("model") or "").isdigit() else None,
        "cpu_part": fields.get("cpu part"),
        "cpu_stepping": fields.get("stepping") or fields.get("cpu revision"),
        "isa": sorted(f for f in ISA_FLAGS if f in flags),
    }


_ARM_IMPLEMENTERS = {"0x41": "ARM", "0x51": "Qualcomm", "0x53": "Samsung", "0x61": "Apple", "0x48": "HiSilicon",
                     "0x4e": "NVIDIA", "0xc0": "Ampere"}


def _arm_implementer(code: Optional[str]) -> Optional[str]:
    if not code:
        return None
    return _ARM_IMPLEMENTERS.get(code.lower(), code)


def cache_sizes(root: str = "/sys/devices/system/cpu/cpu0/cache") -> Dict[str, str]:
    """Per-core cache sizes of cpu0 as the kernel reports them, e.g. {'L1d': '48K', 'L2': '2048K'}."""
    out: Dict[str, str] = {}
    try:
        entries = sorted(os.listdir(root))
    except OSError:
        return out
    for entry in entries:
        if not entry.startswith("index"):
            continue
        try:
            level = _read(os.path.join(root, entry, "level"))
            kind = _read(os.path.join(root, entry, "type"))
            size = _read(os.path.join(root, entry, "size"))
        except OSError:
            continue
        suffix = {"Data": "d", "Instruction": "i"}.get(kind, "")
        out["L%s%s" % (level, suffix)] = size
    return out


def _read(path: str) -> str:
    with open(path) as f:
        return f.read().strip()


def usable_cores() -> int:
    """Cores this process may run on (affinity), else the machine's count."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def arch_family(machine: Optional[str]) -> str:
    """'x86', 'arm' or the leading letters of another machine name ('ppc64le' -> 'ppc'); '' when unknown.

    32-bit userlands on 64-bit kernels (i686 on x86_64, armv8l on aarch64) are the same family: not emulation."""
    m = (machine or "").strip().lower()
    if m in ("x86_64", "amd64", "x86", "i386", "i486", "i586", "i686"):
        return "x86"
    if m.startswith(("arm", "aarch64")):
        return "arm"
    match = re.match(r"[a-z]+", m)
    return match.group(0) if match else ""


def emulation(machine: Optional[str] = None, kernel_arch_file: str = "/proc/sys/kernel/arch",
              cpuinfo: Optional[str] = None, env: Optional[Mapping[str, str]] = None) -> Optional[str]:
    """How this process is emulated (a short description), or None on real hardware.

    User-mode emulators (qemu-user, with or without binfmt_misc; box64/FEX the other way round) report the
    guest's architecture through uname (`platform.machine()`), but not through /proc/sys/kernel/arch, the
    kernel's own, which they do not intercept. A kernel of another architecture family is therefore
    emulation (a 32-bit userland on its 64-bit kernel is not). Where that file is missing (older kernels),
    /proc/cpuinfo of another family says the same: qemu-user 7.2 passes the host's through (newer
    releases make one up for ARM guests, hence the kernel check first). $DCNAS_EMULATED declares it outright.
    """
    env = os.environ if env is None else env
    declared = (env.get(EMULATION_ENV) or "").strip()
    if declared.lower() in ("0", "no", "false"):
        declared = ""
    machine = platform.machine() if machine is None else machine
    found = None
    try:
        kernel = _read(kernel_arch_file)
    except OSError:
        kernel = ""
    if kernel and arch_family(kernel) and arch_family(kernel) != arch_family(machine):
        found = "user-mode emulation (userland %s, kernel %s)" % (machine, kernel)
    else:
        if cpuinfo is None:
            try:
                with open("/proc/cpuinfo") as f:
                    cpuinfo = f.read()
            except OSError:
                cpuinfo = ""
        described = _cpuinfo_family(cpuinfo)
        if described and arch_family(machine) and described != arch_family(machine):
            found = "user-mode emulation (userland %s, /proc/cpuinfo of an %s CPU)" % (machine, described)
    if declared and found:
        return "%s: %s" % (found, declared)
    return found or (declared or None)


def _cpuinfo_family(text: str) -> str:
    """'x86' or 'arm' when /proc/cpuinfo text has that layout, else ''."""
    keys = {line.partition(":")[0].strip().lower() for line in text.splitlines() if ":" in line}
    if "vendor_id" in keys and "flags" in keys:
        return "x86"
    if "cpu implementer" in keys or "cpu architecture" in keys:
        return "arm"
    return ""


def local_cpu() -> Dict[str, Any]:
    """This machine's CPU identity, ISA flags, usable cores and caches, and whether it is emulated.

    Under emulation (`emulation`) the CPU fields describe the CPU running the emulator, not the emulated one."""
    try:
        with open("/proc/cpuinfo") as f:
            info = parse_cpuinfo(f.read())
    except OSError:
        info = {"cpu_name": platform.processor() or None, "cpu_vendor": None, "cpu_family": None,
                "cpu_model": None, "cpu_part": None, "cpu_stepping": None, "isa": []}
    info["machine"] = platform.machine()
    info["cores"] = usable_cores()
    info["caches"] = cache_sizes()
    info["emulation"] = emulation(info["machine"])
    return info


def fingerprint(host: Mapping[str, Any], runtime: str, runtime_version: Optional[str], threads: Optional[int],
                accelerator: Optional[str] = None) -> Dict[str, Any]:
    """The fingerprint of a measuring host: its `cpu_facts` (see host_info) plus runtime, version, threads.

    `accelerator` names a non-CPU device when the runtime runs on one (GPU name, OpenVINO device).
    """
    facts = dict(host.get("cpu_facts") or {})
    fp = {k: facts.get(k) for k in ("machine", "cpu_vendor", "cpu_family", "cpu_model", "cpu_part", "isa",
                                    "cpu_name", "cpu_stepping", "cores", "caches", "emulation")}
    if fp.get("machine") is None:
        fp["machine"] = host.get("machine")
    if fp.get("cpu_name") is None:
        fp["cpu_name"] = host.get("cpu")
    fp.update({"runtime": runtime, "runtime_version": runtime_version,
               "threads": None if threads is None else int(threads), "accelerator": accelerator,
               "governor": host.get("cpu_governor")})
    return fp


@dataclass(frozen=True)
class Mismatch:
    """One field on which two fingerprints differ."""

    field: str
    recorded: Any
    current: Any
    hard: bool

    def __str__(self) -> str:
        return "%s: %s here, %s when measured" % (self.field, _show(self.current), _show(self.recorded))


def _show(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(str(v) for v in value) + "]" if value else "[]"
    return repr(value)


def compare(recorded: Mapping[str, Any], current: Mapping[str, Any]) -> List[Mismatch]:
    """Fields that differ (hard first). ISA flags are compared as sets and reported as what is missing/extra."""
    out: List[Mismatch] = []
    for field in HARD_FIELDS + SOFT_FIELDS:
        a, b = recorded.get(field), current.get(field)
        if field == "isa":
            a_set, b_set = set(a or []), set(b or [])
            if a_set != b_set:
                out.append(Mismatch("isa", sorted(a_set - b_set), sorted(b_set - a_set), True))
            continue
        if field == "cores" and a is not None and b is not None:
            if int(a) != int(b):
                out.append(Mismatch(field, a, b, False))
            continue
        if a != b:
            out.append(Mismatch(field, a, b, field in HARD_FIELDS))
    return sorted(out, key=lambda m: not m.hard)


def describe_isa_mismatch(m: Mismatch) -> str:
    """'isa: lacks avx512_vnni, has amx_tile' style text for an ISA mismatch."""
    parts = []
    if m.recorded:
        parts.append("this host lacks " + ", ".join(m.recorded))
    if m.current:
        parts.append("this host has " + ", ".join(m.current) + " (the measuring host did not)")
    return "ISA flags differ: " + "; ".join(parts)


def explain(mismatches: List[Mismatch]) -> str:
    """One line naming the fields that differ."""
    return "; ".join(describe_isa_mismatch(m) if m.field == "isa" else str(m) for m in mismatches)


def has_int8_dot_product(isa: List[str], machine: str) -> bool:
    """Whether int8 u8×s8 dot products accumulate without 16-bit saturation (VNNI on x86; ARM always)."""
    if machine.lower() in ("x86_64", "amd64", "i686", "x86"):
        return bool({"avx512_vnni", "avx_vnni", "amx_int8"} & set(isa))
    return True


_SAFE = re.compile(r"[^a-z0-9]+")


def short_key(fp: Mapping[str, Any]) -> str:
    """A short readable key of the hard CPU fields, e.g. 'intel-6-207-avx512vnni-amx'."""
    vendor = str(fp.get("cpu_vendor") or "cpu").lower().replace("genuineintel", "intel").replace("authenticamd", "amd")
    isa = set(fp.get("isa") or [])
    tags = [t for t, flag in (("avx512", "avx512f"), ("vnni", "avx512_vnni"), ("avxvnni", "avx_vnni"),
                              ("amx", "amx_tile"), ("avx2", "avx2"), ("dotprod", "asimddp"), ("i8mm", "i8mm"),
                              ("sve", "sve")) if flag in isa]
    if "avx512" in tags and "avx2" in tags:
        tags.remove("avx2")
    if fp.get("emulation"):
        tags = ["emulated", str(fp.get("machine") or "")] + tags
    parts = [vendor, str(fp.get("cpu_family") or ""), str(fp.get("cpu_model") or fp.get("cpu_part") or "")] + tags
    return _SAFE.sub("-", "-".join(p for p in parts if p).lower()).strip("-")


def device_fingerprint(profile: Any, info: Mapping[str, Any]) -> Dict[str, Any]:
    """The fingerprint of a device profile's measuring host, from its connection's `info()`."""
    runtime_device = str(getattr(profile, "runtime_device", "cpu"))
    accelerator = None
    if runtime_device.lower() != "cpu":
        accelerator = info.get("gpu") if runtime_device.lower().startswith("cuda") else runtime_device
    version = info.get("runtime_version") or (info.get("runtimes") or {}).get(profile.runtime)
    fp = fingerprint(info, profile.runtime, version, getattr(profile, "threads", None), accelerator)
    fp["graph_forms"] = GRAPH_FORMS.get(profile.runtime)
    return fp
