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
    floor = cpu_lut.raw_tables(SPACE).lr_up  # no network is predicted faster than its LR-up alone
    for g, got in zip(genomes[:50], batch):
        arch = Arch(g)
        want = cal.scale * sum(max(cpu_lut.op_ms(lo.op) - o, 0.0) for lo in SPACE.live_ops(arch)) + cal.offset_ms
        want = max(want, floor)  # a 5-network quick fit once gave offset -0.63 ms at this tiny geometry
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
    assert list(saved) == first["genomes"] and first["paired"]
    for m in saved.values():
        assert m["raw_ms"] > 0 and m["factor"] > 0
        assert m["normalised_ms"] == pytest.approx(m["raw_ms"] / m["factor"], rel=0.5)  # ratio x nominal vs raw / factor
    fresh = []
    more = check_lut(cpu_lut.path, 3, seed=3, protocol=QUICK, known=saved, on_measured=lambda g, m: fresh.append(g))
    assert more["genomes"][:2] == first["genomes"] and fresh == more["genomes"][2:]
    assert list(more["normalised_ms"][:2]) == [saved[g]["normalised_ms"] for g in first["genomes"]]
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
    """A table measured on a CPU that lacks (or has) one ISA flag is not extended: the field and the fix are named."""
    d = yaml.safe_load(cpu_lut.path.read_text())
    flags = d["provenance"]["fingerprint"]["isa"]
    d["provenance"]["fingerprint"]["isa"] = flags[1:] if flags else ["avx512_vnni"]
    other = tmp_path / "other.yaml"
    other.write_text(yaml.safe_dump(d))
    with pytest.raises(ConfigError, match=r"ISA flags differ: this host .*profile --device cpu --width 4.* --force"):
        profile_device(load_device("cpu").with_threads(1), SPACE, other, calibrate=0, protocol=QUICK)
    d["provenance"]["fingerprint"]["isa"] = flags
    d["provenance"]["fingerprint"]["runtime_version"] = "0.1"
    other.write_text(yaml.safe_dump(d))
    with pytest.raises(ConfigError, match=r"runtime_version: '.*' here, '0.1' when measured"):
        profile_device(load_device("cpu").with_threads(1), SPACE, other, calibrate=0, protocol=QUICK)


def test_reference_network_is_timed_around_every_chunk_and_with_every_network(cpu_lut):
    """Ops carry the reference speed of their chunk; networks their paired ratio; costs use the nominal speed."""
    from dcnas_deploy.lut.reference import reference_arch

    ref = cpu_lut.reference
    assert ref.genome == reference_arch().to_hex()
    chunks = -(-len(SPACE.unique_ops()) // 8)
    assert len(ref.measurements) == 1 + chunks + len(cpu_lut.calibration.records)
    assert set(cpu_lut.op_reference_ms) == set(cpu_lut.ops)
    key, t = next(iter(cpu_lut.ops.items()))
    op = next(o for o in SPACE.unique_ops() if o.key == key)
    assert cpu_lut.op_ms(op) == pytest.approx(t.median_ms * ref.nominal_ms / cpu_lut.op_reference_ms[key])
    for r in cpu_lut.calibration.records:
        assert r["paired"]["ratio"] > 0 and r["paired"]["rounds"] >= QUICK.rounds
    fp = cpu_lut.fingerprint
    assert fp["runtime"] == "onnxruntime" and fp["threads"] == 1 and fp["machine"] and "isa" in fp


def test_normalised_op_cost_removes_a_slow_spell():
    """An op measured while the reference ran 2x slow costs what it would at the nominal speed."""
    from dcnas_deploy.lut.reference import Reference
    from dcnas_deploy.runtimes.protocol import Timing

    ref = Reference(Arch.uniform("k5e3", 1, "concat_pw").to_hex())
    for ms in (10.0, 10.0, 20.0, 10.0):
        ref.add("x", Timing(ms, ms, ms, 5), 0.0)
    op = SPACE.unique_ops()[0]
    lut = LUT({"name": "cpu"}, {}, {}, {op.key: Timing(4.0, 4.0, 4.0, 5)}, reference=ref,
              op_reference_ms={op.key: 20.0})
    assert ref.nominal_ms == 10.0 and lut.op_ms(op) == pytest.approx(2.0)


@pytest.mark.parametrize("field, value, match", [
    ("median_ms", float("nan"), "median_ms is nan"),
    ("median_ms", -0.5, "median_ms is -0.5"),
    ("median_ms", 0, "median_ms is 0"),
    ("p90_ms", float("inf"), "p90_ms is inf"),
    ("count", None, "count is None"),
])
def test_lut_load_refuses_unusable_op_values_naming_the_op(cpu_lut, tmp_path, field, value, match):
    d = yaml.safe_load(cpu_lut.path.read_text())
    key = sorted(d["ops"])[3]
    d["ops"][key][field] = value
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(d))
    with pytest.raises(ConfigError, match=f"op '{key}' {match}"):
        LUT.load(bad)


def test_lut_refuses_ops_of_another_width_and_warns_on_old_tables(cpu_lut, tmp_path):
    from dcnas_deploy.errors import DcnasWarning

    d = yaml.safe_load(cpu_lut.path.read_text())
    d["ops"]["mbconv k3e2 c64 32x32"] = dict(next(iter(d["ops"].values())))
    bad = tmp_path / "foreign.yaml"
    bad.write_text(yaml.safe_dump(d))
    with pytest.raises(ConfigError, match="not ops of its geometry .*'mbconv k3e2 c64 32x32'"):
        LUT.load(bad).batch_latency(SPACE.sample_genomes(3, seed=0), SPACE)
    d = yaml.safe_load(cpu_lut.path.read_text())
    del d["reference"]
    old = tmp_path / "old.yaml"
    old.write_text(yaml.safe_dump(d))
    with pytest.warns(DcnasWarning, match="before LUTs recorded a reference.*profile --device cpu .* --force"):
        LUT.load(old)


def test_calibrated_latency_is_never_negative(cpu_lut, tmp_path):
    """A fitted offset below zero cannot make any network (not even bicubic-only) cost less than its LR-up."""
    from dcnas_deploy.search.constraints import bicubic_only

    lut = LUT.load(cpu_lut.path)
    assert lut.calibration is not None
    lut.calibration.offset_ms = -1000.0  # in memory: a file like this is refused on load (implausible calibration)
    g = np.concatenate([SPACE.sample_genomes(500, seed=0), np.zeros((1, 52), dtype=np.int64)])
    g[-1, 48:] = 5  # all fusions 'none'
    assert bicubic_only(g[-1:])[0]
    lat = lut.batch_latency(g, SPACE)
    lr_up = next(o for o in SPACE.unique_ops() if o.key.startswith("lr_up"))
    assert lat.min() > 0 and lat[-1] == pytest.approx(lut.op_ms(lr_up))


def test_cli_errors_and_show(cpu_lut):
    res = runner.invoke(app, ["profile", "--device", "nosuch", "--quick"])
    assert res.exit_code == 2 and "cpu-tflite" in res.output  # lists the known devices
    res = runner.invoke(app, ["lut", "show", str(cpu_lut.path)])
    assert res.exit_code == 0 and "slowest" in res.output and "k7/k5" in res.output and "Kendall" in res.output


def test_a_table_is_reused_only_on_a_matching_fingerprint(cpu_lut, tmp_path):
    """What `make demo` decides: reuse on the same host; re-profile when one ISA flag differs or the table is old."""
    from dcnas_deploy.lut.profiler import reusable_lut

    cpu = load_device("cpu").with_threads(1)
    lut, why = reusable_lut(cpu_lut.path, cpu, SPACE)
    assert lut is not None and why == ""
    d = yaml.safe_load(cpu_lut.path.read_text())
    d["provenance"]["fingerprint"]["isa"] = [f for f in d["provenance"]["fingerprint"]["isa"] if f != "avx2"] \
        if "avx2" in d["provenance"]["fingerprint"]["isa"] else d["provenance"]["fingerprint"]["isa"] + ["avx2"]
    other = tmp_path / "other.yaml"
    other.write_text(yaml.safe_dump(d))
    lut, why = reusable_lut(other, cpu, SPACE)
    assert lut is None and "ISA flags differ" in why and "avx2" in why and "--force" in why
    del d["reference"]
    other.write_text(yaml.safe_dump(d))
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lut, why = reusable_lut(other, cpu, SPACE)
    assert lut is None and "predates" in why
    assert reusable_lut(tmp_path / "none.yaml", cpu, SPACE) == (None, f"no LUT at {tmp_path / 'none.yaml'}")


def test_benchmark_with_a_reference_lut_reports_host_speed(cpu_lut, tmp_path):
    import json

    arch = tmp_path / "a.yaml"
    SPACE.sample(2).to_yaml(arch)
    out = tmp_path / "r.json"
    res = runner.invoke(app, ["benchmark", str(arch), "--device", "cpu", "--threads", "1", "--width", "4",
                              "--hr", "32x32", "--scale", "8", "--reference", str(cpu_lut.path), "--json", str(out)],
                        env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    assert "host speed factor" in res.output and "nominal speed" in res.output
    hs = json.loads(out.read_text())["host_speed"]
    assert hs["factor"] > 0 and hs["normalised_ms"] == pytest.approx(hs["ratio"] * cpu_lut.reference.nominal_ms, rel=1e-3)
    res = runner.invoke(app, ["benchmark", str(arch), "--device", "cpu-torch", "--reference", str(cpu_lut.path)],
                        env={"COLUMNS": "200"})
    assert res.exit_code == 2 and "not 'cpu-torch'" in res.output


def test_calibration_scale_stays_positive_when_noise_hides_the_ops(cpu_lut, tmp_path):
    """Tiny geometries on a noisy host: a per-call overhead above every op, or timings that fall as the op
    sums rise, must still give a loadable table (slope 1, offset fitted), never a negative scale."""
    from dcnas_deploy.lut.calibration import fit_affine
    from dcnas_deploy.lut.profiler import refit

    assert fit_affine(np.array([1.0, 2.0, 3.0]), np.array([3.0, 2.0, 1.0])) == (1.0, 0.0)
    assert fit_affine(np.array([2.0, 2.0]), np.array([3.0, 5.0])) == (1.0, 2.0)
    # in memory: such a file, with the calibration fitted before the edit, is refused on load (lut.plausibility)
    lut = LUT.load(cpu_lut.path)
    lut.provenance["per_call_overhead_ms"] = 1000.0
    big = tmp_path / "overhead.yaml"
    lut.path = big
    assert np.all(lut.net_tables(SPACE).batch(SPACE.sample_genomes(50, seed=0)) == 0)
    recs = [dict(r) for r in lut.calibration.records]
    for i, r in enumerate(recs):  # measured latency falling as the op sums rise
        r["paired"] = dict(r["paired"], ratio=2.0 - 0.1 * i)
    cal = refit(lut, SPACE, recs)
    assert cal.scale == 1.0 and np.isfinite(cal.offset_ms)
    lut.calibration = cal
    lut.save()
    assert LUT.load(big).calibration.scale == 1.0
