"""LUT profiling (incremental, resumable), calibration, vectorised latency, and bad-input errors."""
from __future__ import annotations

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from dcnas_deploy import Arch, SearchSpace
from dcnas_deploy.cli.main import app
from dcnas_deploy.costs import make_cost
from dcnas_deploy.errors import ConfigError
from dcnas_deploy.lut import LUT, find_lut
from dcnas_deploy.lut.profiler import profile_device
from dcnas_deploy.runtimes.devices import load_device
from dcnas_deploy.runtimes.protocol import QUICK

SPACE = SearchSpace(width=4, scale=8, hr_size=(32, 32))
runner = CliRunner()


@pytest.fixture(scope="module")
def cpu_lut(tmp_path_factory):
    """A quick-protocol onnxruntime LUT of a tiny geometry, made through the CLI."""
    out = tmp_path_factory.mktemp("lut") / "cpu.yaml"
    res = runner.invoke(app, ["profile", "--device", "cpu", "--width", "4", "--hr", "32x32", "--scale", "8",
                              "--calibrate", "5", "--quick", "--threads", "1", "--out", str(out)])
    assert res.exit_code == 0, res.output
    return LUT.load(out)


def test_profile_writes_complete_lut_with_provenance(cpu_lut):
    assert {op.key for op in SPACE.unique_ops()} == set(cpu_lut.ops)
    p = cpu_lut.provenance
    assert p["runtime"] == "onnxruntime" and p["runtime_version"] and p["host"]["cpu"] and p["date"]
    assert p["protocol"]["timed_runs"] == QUICK.timed_runs and p["per_call_overhead_ms"] > 0
    assert all(t.count >= QUICK.timed_runs and t.p10_ms <= t.median_ms <= t.p90_ms for t in cpu_lut.ops.values())
    cal = cpu_lut.calibration
    assert len(cal.records) == 5 and {"mape_pct", "within_10pct", "kendall_tau", "rmse_ms"} <= set(cal.errors)
    assert cpu_lut.path.with_suffix(".calibration.png").stat().st_size > 1000


def test_latency_is_calibrated_sum_of_live_ops_and_vectorised(cpu_lut):
    cal, o = cpu_lut.calibration, cpu_lut.overhead_ms
    genomes = SPACE.sample_genomes(200, seed=1)
    batch = cpu_lut.batch_latency(genomes, SPACE)
    for g, got in zip(genomes[:50], batch):
        arch = Arch(g)
        want = cal.scale * sum(cpu_lut.ops[lo.op.key].median_ms - o for lo in SPACE.live_ops(arch)) + cal.offset_ms
        assert got == pytest.approx(want, rel=1e-9, abs=1e-9)
        assert cpu_lut.latency(arch, SPACE) == pytest.approx(got)
    tables = make_cost(f"latency:{cpu_lut.path}", SPACE)
    assert np.allclose(tables.batch(genomes), batch)


def test_profiling_resumes_after_interrupt(tmp_path):
    out = tmp_path / "resume.yaml"
    profile = load_device("cpu-torch").with_threads(1)
    seen = []

    def interrupt_after_two_chunks(stage, n, total):
        seen.append(n)
        if stage == "ops" and len(seen) == 12:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        profile_device(profile, SPACE, out, calibrate=0, protocol=QUICK, chunk=5, progress=interrupt_after_two_chunks)
    partial = LUT.load(out)
    assert len(partial.ops) == 10  # two whole chunks saved, the interrupted one lost
    calls = []
    lut = profile_device(profile, SPACE, out, calibrate=2, protocol=QUICK, chunk=5,
                         progress=lambda stage, n, total: calls.append(stage))
    assert calls.count("ops") == len(SPACE.unique_ops()) - 10  # only the missing ops were measured
    assert all(lut.ops[k] == t for k, t in partial.ops.items())
    assert len(lut.calibration.records) == 2
    calls.clear()
    lut = profile_device(profile, SPACE, out, calibrate=1, protocol=QUICK, progress=lambda s, n, t: calls.append(s))
    assert calls == [] and len(lut.calibration.records) == 2  # fewer wanted than measured: nothing re-measured
    lut = profile_device(profile, SPACE, out, calibrate=3, protocol=QUICK, progress=lambda s, n, t: calls.append(s))
    assert calls == ["calibration"] and len(lut.calibration.records) == 3  # only the one missing network


def test_check_lut_resumes_from_saved_measurements(cpu_lut):
    """A held-out check measures only architectures it has no saved time for; its set for n is a prefix of n+1's."""
    from dcnas_deploy.lut.check import check_lut

    saved = {}
    first = check_lut(cpu_lut.path, 2, seed=3, protocol=QUICK, on_measured=saved.__setitem__)
    assert list(saved) == first["genomes"] and all(v > 0 for v in saved.values())
    fresh = []
    more = check_lut(cpu_lut.path, 3, seed=3, protocol=QUICK, known_ms=saved,
                     on_measured=lambda g, ms: fresh.append(g))
    assert more["genomes"][:2] == first["genomes"] and fresh == more["genomes"][2:]
    assert list(more["measured_ms"][:2]) == [saved[g] for g in first["genomes"]]
    assert np.allclose(more["predicted_ms"][:2], first["predicted_ms"]) and more["errors"]["n"] == 3


def test_lut_errors_name_the_problem(cpu_lut, tmp_path):
    with pytest.raises(ConfigError, match=r"width 4 \(needed 8\)"):
        cpu_lut.check_geometry(SearchSpace(width=8, hr_size=(32, 32)))
    d = yaml.safe_load(cpu_lut.path.read_text())
    key = "mbconv k7e6 c32 4x4"
    del d["ops"][key]
    holed = tmp_path / "holed.yaml"
    holed.write_text(yaml.safe_dump(d))
    with pytest.raises(ConfigError, match=f"op '{key}' is missing .* dcnas-deploy profile --device cpu --width 4"):
        LUT.load(holed).cost_tables(SPACE)
    corrupt = tmp_path / "corrupt.yaml"
    corrupt.write_text("format: dcnas-lut/1\nops: {a: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        LUT.load(corrupt)
    with pytest.raises(ConfigError, match="no LUT for device 'nosuch'.*dcnas-deploy profile --device nosuch"):
        find_lut("nosuch", SPACE)


def test_profile_refuses_to_mix_hosts(cpu_lut, tmp_path):
    d = yaml.safe_load(cpu_lut.path.read_text())
    d["provenance"]["host"]["cpu"] = "Some Other CPU"
    other = tmp_path / "other.yaml"
    other.write_text(yaml.safe_dump(d))
    with pytest.raises(ConfigError, match="another host"):
        profile_device(load_device("cpu"), SPACE, other, calibrate=0, protocol=QUICK)


def test_cli_errors_and_show(cpu_lut):
    res = runner.invoke(app, ["profile", "--device", "nosuch", "--quick"])
    assert res.exit_code == 2 and "cpu-tflite" in res.output  # lists the known devices
    res = runner.invoke(app, ["lut", "show", str(cpu_lut.path)])
    assert res.exit_code == 0 and "slowest" in res.output and "k7/k5" in res.output and "Kendall" in res.output
