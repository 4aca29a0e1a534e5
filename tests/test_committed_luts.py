"""Every LUT committed under luts/ is complete, calibrated and says where and how it was measured."""
from __future__ import annotations

import numpy as np
import pytest

from dcnas_deploy.datadirs import shipped_dir
from dcnas_deploy.lut.table import LUT
from dcnas_deploy.runtimes.protocol import Protocol

COMMITTED = sorted(shipped_dir("luts").glob("*.yaml"))


@pytest.mark.parametrize("path", COMMITTED, ids=[p.stem for p in COMMITTED])
def test_committed_lut_is_complete_and_has_provenance(path):
    lut = LUT.load(path)
    space = lut.space()
    assert lut.missing(space.unique_ops()) == []
    prov = lut.provenance
    for key in ("runtime", "runtime_version", "host", "threads", "date", "protocol", "per_call_overhead_ms",
                "profiling_seconds"):
        assert prov.get(key) not in (None, ""), f"{path.name}: provenance lacks {key}"
    full = Protocol()
    proto = prov["protocol"]
    assert prov["threads"] == lut.device["threads"]
    for key in ("timed_runs", "timed_s", "rounds", "turn_s"):  # the full protocol, never the quick one
        assert proto[key] >= getattr(full, key), f"{path.name}: protocol {key} {proto[key]} < {getattr(full, key)}"
    fp = prov.get("fingerprint") or {}
    for key in ("machine", "cpu_vendor", "cpu_model", "isa", "runtime", "runtime_version", "threads"):
        assert fp.get(key) not in (None, "", []), f"{path.name}: fingerprint lacks {key}"
    assert fp["runtime"] == prov["runtime"] and fp["threads"] == prov["threads"]
    ref = lut.reference
    assert ref is not None and ref.nominal_ms > 0
    assert len(ref.measurements) >= 2 + len(lut.calibration.records)  # around the ops and with every network
    cal = lut.calibration
    assert cal is not None and len(cal.records) >= 20 and cal.scale > 0
    for r in cal.records:
        m = r["measured"]
        # the run floor, or the time ceiling reached first (a 1 s LiteRT network: ~6 runs in its 3 s share)
        assert m["count"] >= full.timed_runs or m["count"] * m["median_ms"] >= 1000 * full.max_s, (path.name, m)
        assert r["paired"]["ratio"] > 0 and r["paired"]["rounds"] >= min(full.rounds, m["count"])
    assert 0 <= cal.errors["mape_pct"] < 100 and 0 <= cal.errors["within_10pct"] <= 1
    assert path.with_suffix(".calibration.png").stat().st_size > 1000
    lat = lut.batch_latency(space.sample_genomes(200, seed=1), space)
    assert np.all(np.isfinite(lat)) and np.all(lat > 0)


def test_at_least_the_default_device_is_committed():
    assert any(p.name.startswith("cpu-c8-256x256-x8") for p in COMMITTED)
