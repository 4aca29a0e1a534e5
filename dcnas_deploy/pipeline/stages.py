"""Resumable pipeline stages: each finished stage leaves a JSON record; a rerun skips it."""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Callable, Dict

from dcnas_deploy.fileio import atomic_write_text


class Stages:
    """Runs named stages once; a stage whose record exists with the same settings is reused."""

    def __init__(self, out_dir: Path, force: bool = False, log: Callable[[str], None] = print):
        self.dir = Path(out_dir) / "stages"
        self.force, self.log = force, log
        self.results: Dict[str, Dict[str, Any]] = {}

    def record_path(self, name: str) -> Path:
        """Where a stage's record lives."""
        return self.dir / f"{name}.json"

    def run(self, name: str, settings: Dict[str, Any], fn: Callable[[], Dict[str, Any]]) -> Dict[str, Any]:
        """fn() → JSON-able result, unless a record with identical settings exists (then it is returned)."""
        path = self.record_path(name)
        if not self.force and path.is_file():
            rec = json.loads(path.read_text())
            if rec.get("settings") == json.loads(json.dumps(settings)):
                self.log(f"[{name}] done earlier ({rec['seconds']:.0f} s): reusing {path}")
                self.results[name] = rec["result"]
                return rec["result"]
        self.log(f"[{name}] running")
        t0 = time.perf_counter()
        result = fn()
        rec = {"settings": settings, "result": result, "seconds": time.perf_counter() - t0,
               "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        atomic_write_text(path, json.dumps(rec, indent=2, default=str) + "\n")
        self.log(f"[{name}] finished in {rec['seconds']:.0f} s")
        self.results[name] = result
        return result

    def seconds(self) -> Dict[str, float]:
        """Wall time each stage took when it ran (from the records)."""
        out = {}
        for p in sorted(self.dir.glob("*.json")):
            out[p.stem] = json.loads(p.read_text())["seconds"]
        return out
