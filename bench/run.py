"""The benchmark runner: the rows of bench/suite.yaml, one at a time, each with a record of what ran where.

    python bench/run.py --list                     # the suite: name, set, minutes, needs, last run, what
    python bench/run.py NAME [NAME ...]            # these rows, in the suite's order
    python bench/run.py --set quick|long|all       # a set (`make bench` runs --set quick)
    python bench/run.py --set all --dry-run        # print the commands, run nothing

Each row runs as a subprocess (`python SCRIPT ARGS...` from the repository root, this checkout first on PYTHONPATH,
DCNAS_LUTS=runs/bench/luts unless set, so a LUT profiled on the way lands under runs/), never two at a time: the
benchmarks time things. Its output streams here and is kept in runs/bench/logs/. One JSON line per row goes to
runs/bench/records.jsonl: the command, git commit (and whether the tree, and the script, had uncommitted changes),
start/end UTC, seconds, exit code, whether its output folder already existed (resumable benches then reuse earlier
stages, so the seconds are not a fresh run's), the host's CPU (vendor, family/model, ISA flags, cores, caches), load
average, Python and the runtimes' versions. A row whose `needs` are not met (no Middlebury folder, no CUDA, no
qemu-x86_64, an earlier row's output missing, ...) is skipped and the reason recorded. Exits 1 when a row failed.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Union

REPO = Path(__file__).resolve().parents[1]
SUITE = REPO / "bench" / "suite.yaml"
RUNS = REPO / "runs" / "bench"
RECORDS = RUNS / "records.jsonl"
LOGS = RUNS / "logs"
LUTS = RUNS / "luts"
MIDDLEBURY = REPO.parent / "shared" / "data" / "middlebury"
SETS = ("quick", "long")
NEEDS = ("none", "middlebury", "gpu", "adb", "qemu", "package-write")
"""Known needs; `file:PATH` (a path relative to the repository root that must exist) comes on top."""
PACKAGES = ("torch", "numpy", "onnxruntime", "openvino", "ai-edge-litert", "nncf", "dcnas-deploy")
FIELDS = ("name", "script", "args", "minutes", "set", "needs", "out", "what")


class SuiteError(ValueError):
    """bench/suite.yaml is malformed."""


@dataclass(frozen=True)
class Row:
    """One row of the suite."""

    name: str
    script: str
    args: List[str]
    minutes: Union[float, str]
    set: str
    needs: List[str]
    out: Optional[str]
    what: str
    note: str = ""

    @property
    def path(self) -> Path:
        p = Path(self.script)
        return p if p.is_absolute() else REPO / p

    def command(self) -> List[str]:
        return [sys.executable, self.script, *self.args]


def load_suite(path: Optional[Path] = None) -> List[Row]:
    """The suite's rows, checked: every field present, a known set and needs, unique names."""
    import yaml

    path = path or SUITE
    data = yaml.safe_load(Path(path).read_text())
    rows: List[Row] = []
    for i, raw in enumerate((data or {}).get("rows") or []):
        where = f"{path}: row {i + 1} ({raw.get('name', '?') if isinstance(raw, dict) else raw!r})"
        if not isinstance(raw, dict):
            raise SuiteError(f"{where}: not a mapping")
        missing = [k for k in FIELDS if k not in raw]
        unknown = sorted(set(raw) - set(FIELDS) - {"note"})
        if missing or unknown:
            raise SuiteError(f"{where}: missing {missing}, unknown {unknown}")
        if not isinstance(raw["args"], list) or not all(isinstance(a, str) for a in raw["args"]):
            raise SuiteError(f"{where}: args must be a list of strings (quote numbers)")
        if raw["set"] not in SETS:
            raise SuiteError(f"{where}: set {raw['set']!r} is not one of {SETS}")
        minutes = raw["minutes"]
        if not (minutes == "unknown" or (isinstance(minutes, (int, float)) and not isinstance(minutes, bool)
                                         and minutes > 0)):
            raise SuiteError(f"{where}: minutes must be a positive number or 'unknown', not {minutes!r}")
        needs = raw["needs"]
        if not isinstance(needs, list) or not needs or \
                any(not (n in NEEDS or (isinstance(n, str) and n.startswith("file:"))) for n in needs):
            raise SuiteError(f"{where}: needs must list some of {NEEDS} or file:PATH, not {needs!r}")
        rows.append(Row(name=str(raw["name"]), script=str(raw["script"]), args=list(raw["args"]), minutes=minutes,
                        set=raw["set"], needs=list(needs), out=raw["out"], what=str(raw["what"]),
                        note=str(raw.get("note") or "")))
    names = [r.name for r in rows]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise SuiteError(f"{path}: names used twice: {dupes}")
    return rows


# ---- needs --------------------------------------------------------------------------------------------------------

@dataclass
class Checks:
    """Whether each need is met here; the costly ones (CUDA imports torch) only when a row asks."""

    allow_package_writes: bool = False
    _cache: Dict[str, Optional[str]] = field(default_factory=dict)

    def reason(self, row: Row) -> Optional[str]:
        """Why `row` cannot run here, or None."""
        if not row.path.is_file():
            return f"{row.script} is not in this checkout"
        for need in row.needs:
            if need not in self._cache or need.startswith("file:"):
                self._cache[need] = self._check(need)
            if self._cache[need]:
                return self._cache[need]
        return None

    def _check(self, need: str) -> Optional[str]:
        if need == "none":
            return None
        if need == "middlebury":
            return None if (MIDDLEBURY / "Depth").is_dir() else f"no Middlebury data at {MIDDLEBURY}"
        if need == "gpu":
            try:
                import torch
            except ImportError:
                return "no GPU: torch is not installed"
            return None if torch.cuda.is_available() else "no GPU: torch.cuda.is_available() is False"
        if need == "adb":
            return None if shutil.which("adb") else "no adb on PATH"
        if need == "qemu":
            return None if shutil.which("qemu-x86_64") else "no qemu-x86_64 on PATH (Debian: qemu-user)"
        if need == "package-write":
            return None if self.allow_package_writes else \
                "writes into dcnas_deploy/ (run it with --allow-package-writes)"
        if need.startswith("file:"):
            p = Path(need[5:])
            p = p if p.is_absolute() else REPO / p
            return None if p.exists() else f"{need[5:]} does not exist yet (an earlier row writes it)"
        return f"unknown need {need!r}"


# ---- provenance ---------------------------------------------------------------------------------------------------

def _git(*args: str) -> Optional[str]:
    try:
        done = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 else None


def git_state(script: Optional[str] = None) -> Dict[str, Any]:
    """Commit, branch, and whether the tree (and the script) differ from it (untracked files count)."""
    commit = (_git("rev-parse", "HEAD") or "").strip() or None
    status = _git("status", "--porcelain")
    out: Dict[str, Any] = {"commit": commit, "branch": (_git("rev-parse", "--abbrev-ref", "HEAD") or "").strip() or None,
                           "dirty": None if status is None else bool(status.strip())}
    if script is not None:
        mine = _git("status", "--porcelain", "--", script)
        out["script_dirty"] = None if mine is None else bool(mine.strip())
    return out


def host() -> Dict[str, Any]:
    """This machine: the CPU identity the LUTs key on (runtimes.fingerprint.local_cpu), OS, memory."""
    if str(REPO) not in sys.path:  # this checkout's package, as the rows get (child_env)
        sys.path.insert(0, str(REPO))
    from dcnas_deploy.runtimes.fingerprint import local_cpu

    info: Dict[str, Any] = {"hostname": platform.node(), "system": platform.platform(), **local_cpu()}
    try:
        pages, size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
        info["memory_gb"] = round(pages * size / 2 ** 30, 1)
    except (ValueError, OSError, AttributeError):
        pass
    return info


def versions() -> Dict[str, Optional[str]]:
    """Installed versions of the packages that decide the figures (None: not installed); nothing is imported."""
    out: Dict[str, Optional[str]] = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def _loadavg() -> Optional[List[float]]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (OSError, AttributeError):
        return None


def append_record(record: Dict[str, Any], path: Optional[Path] = None) -> None:
    path = path or RECORDS
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        f.write(json.dumps(record, default=str) + "\n")


def read_records(path: Optional[Path] = None) -> List[Dict[str, Any]]:
    path = path or RECORDS
    if not path.is_file():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out


# ---- running ------------------------------------------------------------------------------------------------------

def child_env() -> Dict[str, str]:
    """The runner's environment, with this checkout first on PYTHONPATH and new LUTs under runs/bench/luts."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), *filter(None, [env.get("PYTHONPATH")])])
    env.setdefault("DCNAS_LUTS", str(LUTS))
    env["PYTHONUNBUFFERED"] = "1"
    return env


def run_row(row: Row, log: Path) -> tuple:
    """Run one row, streaming its output here and into `log`; (exit code, seconds, interrupted)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    interrupted = False
    with open(log, "wb") as keep:
        proc = subprocess.Popen(row.command(), cwd=REPO, env=child_env(), stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT)
        assert proc.stdout is not None
        try:
            for line in iter(proc.stdout.readline, b""):
                keep.write(line)
                sys.stdout.write(line.decode(errors="replace"))
                sys.stdout.flush()
            code = proc.wait()
        except KeyboardInterrupt:  # the child got the same SIGINT: let it stop, then record that
            interrupted = True
            try:
                code = proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                code = proc.wait()
    return code, round(time.perf_counter() - t0, 2), interrupted


def select(rows: List[Row], names: Sequence[str], which: Optional[str]) -> List[Row]:
    """The named rows and the set's, in the suite's order (SystemExit naming an unknown row)."""
    known = {r.name for r in rows}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise SystemExit(f"no such row: {', '.join(unknown)} (python bench/run.py --list)")
    return [r for r in rows if r.name in names or which == "all" or r.set == which]


def _minutes(row: Row) -> str:
    return row.minutes if isinstance(row.minutes, str) else f"{row.minutes:g}"


def print_list(rows: List[Row], records: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    last: Dict[str, Dict[str, Any]] = {}
    for rec in read_records(records):
        last[rec.get("name", "")] = rec
    table = Table(title=f"bench/suite.yaml: {len(rows)} rows ({sum(r.set == 'quick' for r in rows)} quick)")
    for col, kw in (("name", {"style": "bold"}), ("set", {}), ("min", {"justify": "right"}), ("needs", {}),
                    ("last run", {}), ("what", {"overflow": "fold"})):
        table.add_column(col, **kw)
    for r in rows:
        rec = last.get(r.name)
        if rec is None:
            seen = ""
        elif rec.get("status") == "skipped":
            seen = f"skipped {rec.get('start_utc', '')[:10]}"
        else:
            seen = f"{rec.get('status')} {rec.get('seconds', 0) / 60:.1f} min {rec.get('start_utc', '')[:10]}"
        needs = ", ".join(f"file:{Path(n[5:]).name}" if n.startswith("file:") else n for n in r.needs if n != "none")
        table.add_row(r.name, r.set, _minutes(r), needs, seen, r.what)
    Console().print(table)
    print(f"records: {records.relative_to(REPO) if records.is_relative_to(REPO) else records}")


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("names", nargs="*", metavar="NAME", help="rows to run (python bench/run.py --list)")
    ap.add_argument("--set", dest="which", choices=(*SETS, "all"), help="run every row of this set")
    ap.add_argument("--list", action="store_true", help="print the suite and each row's last record")
    ap.add_argument("--dry-run", action="store_true", help="print the commands, run nothing")
    ap.add_argument("--allow-package-writes", action="store_true",
                    help="also run rows that write into dcnas_deploy/ (needs: package-write)")
    ap.add_argument("--suite", type=Path, default=SUITE, help=argparse.SUPPRESS)
    ap.add_argument("--records", type=Path, default=RECORDS, help="where records go (default runs/bench/records.jsonl)")
    args = ap.parse_args(argv)
    try:
        rows = load_suite(args.suite)
    except SuiteError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.list:
        print_list(rows, args.records)
        return 0
    if not args.names and not args.which:
        ap.error("give row names, --set quick|long|all, or --list")
    chosen = select(rows, args.names, args.which)
    if args.dry_run:
        for r in chosen:
            notes = [f"needs {', '.join(n for n in r.needs if n != 'none')}"] if r.needs != ["none"] else []
            notes += [] if r.path.is_file() else [f"{r.script} is not in this checkout"]
            print(shlex.join(r.command()) + (f"  # {'; '.join(notes)}" if notes else ""))
        return 0

    checks = Checks(allow_package_writes=args.allow_package_writes)
    batch = _now()
    machine, packages = host(), versions()
    failed: List[str] = []
    for i, r in enumerate(chosen):
        base: Dict[str, Any] = {"name": r.name, "script": r.script, "args": r.args, "set": r.set, "needs": r.needs,
                                "command": shlex.join(r.command()), "batch": batch, "git": git_state(r.script)}
        reason = checks.reason(r)
        if reason:
            print(f"== [{i + 1}/{len(chosen)}] {r.name}: skipped: {reason}", flush=True)
            append_record({**base, "status": "skipped", "reason": reason, "start_utc": _now(), "host": machine,
                           "python": platform.python_version(), "packages": packages}, args.records)
            continue
        out_existed = bool(r.out) and (REPO / str(r.out)).exists()
        stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        log = LOGS / f"{stamp}-{i + 1:02d}-{r.name}.log"
        print(f"== [{i + 1}/{len(chosen)}] {r.name} ({_minutes(r)} min expected): {shlex.join(r.command())}",
              flush=True)
        start, load = _now(), _loadavg()
        code, seconds, interrupted = run_row(r, log)
        status = "interrupted" if interrupted else ("ok" if code == 0 else "failed")
        append_record({**base, "status": status, "exit_code": code, "start_utc": start, "end_utc": _now(),
                       "seconds": seconds, "out": r.out, "out_existed": out_existed,
                       "log": str(log.relative_to(REPO) if log.is_relative_to(REPO) else log),
                       "loadavg_start": load, "loadavg_end": _loadavg(), "host": machine,
                       "python": platform.python_version(), "executable": sys.executable, "packages": packages,
                       "env": {"DCNAS_LUTS": child_env()["DCNAS_LUTS"]}}, args.records)
        print(f"== {r.name}: {status} (exit {code}) in {seconds / 60:.1f} min", flush=True)
        if interrupted:
            print("interrupted: stopping here", file=sys.stderr)
            return 130
        if code != 0:
            failed.append(r.name)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
