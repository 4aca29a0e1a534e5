"""Every LUT committed under luts/ is complete, calibrated and says where and how it was measured."""
from __future__ import annotations

import numpy as np
import pytest

from dcnas_deploy.lut.table import LUT, REPO_LUTS

COMMITTED = sorted(REPO_LUTS.glob("*.yaml"))


@pytest.mark.parametrize("path", COMMITTED, ids=[p.stem for p in COMMITTED])
def test_committed_lut_is_complete_and_has_provenance(path):
    lut = LUT.load(path)
    space = lut.space()
    assert lut.missing(space.unique_ops()) == []
    prov = lut.provenance
    for key in ("runtime", "runtime_version", "host", "threads", "date", "protocol", "per_call_overhead_ms",
                "profiling_seconds"):
        assert prov.get(key) not in (None, ""), f"{path.name}: provenance lacks {key}"
    assert prov["protocol"]["timed_runs"] >= 50 and prov["threads"] == lut.device["threads"]
    cal = lut.calibration
    assert cal is not None and len(cal.records) >= 20
    assert all(r["measured"]["count"] >= 50 for r in cal.records)  # full protocol, never the quick one
    assert 0 <= cal.errors["mape_pct"] < 100 and 0 <= cal.errors["within_10pct"] <= 1
    assert path.with_suffix(".calibration.png").stat().st_size > 1000
    lat = lut.batch_latency(space.sample_genomes(200, seed=1), space)
    assert np.all(np.isfinite(lat)) and np.all(lat > 0)


def test_at_least_the_default_device_is_committed():
    assert any(p.name.startswith("cpu-c8-256x256-x8") for p in COMMITTED)
