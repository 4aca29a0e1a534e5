"""Acceptance: issue 30's round-2 bad inputs (part A): each gets a clear one-line error or correct behaviour.

Broken runs are named, never replaced by another model; implausible LUTs are refused on load, in `lut check`
and in the closed loop; pan-sharpening files at another ratio than --scale are refused naming the file and
sample; YAML alias bombs, HDF5 groups and full-resolution --save-images answer without a traceback.
"""
from __future__ import annotations

import re
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from dcnas_deploy.cli.main import app
from dcnas_deploy.errors import ConfigError, DcnasError

REPO = Path(__file__).resolve().parents[1]
LUT_X4 = REPO / "luts" / "cpu-c8-64x64-x4.yaml"


def _invoke(*argv: str):
    """CLI result and its output with rich boxes removed and whitespace collapsed (messages may wrap)."""
    res = CliRunner().invoke(app, list(argv))
    return res, " ".join(re.sub(r"[│╭╮╰╯─━┃]", " ", res.output).split())


def _refused(res, text: str, *needles: str, code: int = 2) -> None:
    assert res.exit_code == code, text
    assert res.exception is None or isinstance(res.exception, SystemExit), repr(res.exception)
    assert "Traceback" not in res.output
    for n in needles:
        assert n in text, f"{n!r} not in: {text}"


# ---- 1. a broken run is named, never silently replaced -------------------------------------------------

def _checkpoint(path: Path, kind: str, truncate: bool = False) -> None:
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"format": "dcnas-run/1", "kind": kind, "step": 0, "weights": torch.zeros(4096)}, path)
    if truncate:
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])


def test_truncated_newest_supernet_run_is_named_not_skipped(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _checkpoint(tmp_path / "runs" / "old" / "checkpoint.pt", "supernet")
    time.sleep(0.01)
    _checkpoint(tmp_path / "runs" / "x4" / "checkpoint.pt", "supernet", truncate=True)
    before = (tmp_path / "runs" / "x4" / "checkpoint.pt").read_bytes()
    res, text = _invoke("search", "--latency", "40ms", "-o", "found.yaml")
    _refused(res, text, "runs/x4/checkpoint.pt is broken", "--supernet", "move the broken run away")
    assert "shipped" not in text and "old" not in text
    assert (tmp_path / "runs" / "x4" / "checkpoint.pt").read_bytes() == before
    assert not (tmp_path / "found.yaml").exists()


def test_broken_run_older_than_the_pick_does_not_block_it(tmp_path):
    from dcnas_deploy.train.latest import newest_supernet_run

    _checkpoint(tmp_path / "broken" / "checkpoint.pt", "supernet", truncate=True)
    time.sleep(0.01)
    _checkpoint(tmp_path / "trained" / "checkpoint.pt", "arch")
    _checkpoint(tmp_path / "good" / "checkpoint.pt", "supernet")
    assert newest_supernet_run(tmp_path) == tmp_path / "good"


def test_truncated_newest_model_is_named_by_export(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs" / "final").mkdir(parents=True)
    (tmp_path / "runs" / "final" / "model.pt").write_bytes(b"PK\x03\x04 truncated")
    res, text = _invoke("export", "--out", "exported")
    _refused(res, text, "runs/final/model.pt is broken", "--model PATH")
    assert not (tmp_path / "exported").exists()


# ---- 2. implausible LUTs -------------------------------------------------------------------------------

def _scaled_lut(path: Path, factor: float) -> Path:
    """The shipped x4 table with every op time multiplied by `factor` (fingerprint untouched)."""
    d = yaml.safe_load(LUT_X4.read_text())
    for t in d["ops"].values():
        for k in ("median_ms", "p10_ms", "p90_ms"):
            t[k] *= factor
    path.write_text(yaml.safe_dump(d, sort_keys=False))
    return path


def test_lut_with_ops_times_100_is_refused_on_load(tmp_path):
    res, text = _invoke("lut", "show", str(_scaled_lut(tmp_path / "x100.yaml", 100)))
    _refused(res, text, "x100.yaml: op '", "× the whole reference network", "re-profile: dcnas-deploy profile")


def test_lut_whose_reference_network_ops_do_not_add_up_is_refused(tmp_path):
    res, text = _invoke("lut", "show", str(_scaled_lut(tmp_path / "x15.yaml", 15)))  # no single op over 10x
    _refused(res, text, "x15.yaml: the reference network's ops add up to", "expected 0.1-10×", "--force")


def test_lut_whose_calibration_networks_are_mispredicted_is_refused(tmp_path):
    res, text = _invoke("lut", "show", str(_scaled_lut(tmp_path / "x3.yaml", 3)))
    _refused(res, text, "x3.yaml: its own calibration networks are predicted", "the table states 3.0694 %",
             "--force")


def test_shipped_luts_are_plausible():
    from dcnas_deploy.lut.plausibility import calibration_mape_pct
    from dcnas_deploy.lut.table import LUT

    for path in sorted((REPO / "luts").glob("*.yaml")):
        lut = LUT.load(path)  # refuses an implausible table
        assert calibration_mape_pct(lut) < 10


def _fake_measurements(monkeypatch, ratio: float) -> None:
    """`lut check` measures every network at `ratio` × its prediction, without running anything, and takes the
    committed table as this host's (the check's arithmetic is under test here, not which host's table it checks:
    tests/test_host_tables.py has that)."""
    from dcnas_deploy.lut.reference import HostSpeed, Reference
    from dcnas_deploy.lut.table import LUT

    monkeypatch.setattr("dcnas_deploy.lut.host_tables.foreign_host", lambda lut, profile: None)

    lut = LUT.load(LUT_X4)
    monkeypatch.setattr("dcnas_deploy.runtimes.modules.measure_arch_paired",
                        lambda space, arch, ref, profile, protocol: arch)

    def speed(self, arch):
        ms = ratio * lut.latency(arch)
        return HostSpeed(ms, self.nominal_ms, 1.0, ms, ms / self.nominal_ms, 1.0)

    monkeypatch.setattr(Reference, "speed", speed)


def test_lut_check_fails_when_the_device_runs_93x_below_the_table(tmp_path, monkeypatch):
    _fake_measurements(monkeypatch, 1 / 93)
    res, text = _invoke("lut", "check", str(LUT_X4), "--archs", "3")
    _refused(res, text, "does not describe this device now", "over the 15 % this table allows",
             "re-profile with --force", code=1)


def test_lut_check_passes_within_the_stated_error(monkeypatch):
    _fake_measurements(monkeypatch, 1.03)
    res, text = _invoke("lut", "check", str(LUT_X4), "--archs", "3")
    assert res.exit_code == 0, text


def test_closed_loop_stops_on_a_candidate_far_from_its_prediction(monkeypatch):
    from dcnas_deploy.lut.table import LUT
    from dcnas_deploy.runtimes.devices import load_device
    from dcnas_deploy.search.constraints import Constraint
    from dcnas_deploy.search.verify import DeviceCheck, verify_candidates

    lut = LUT.load(LUT_X4)
    space = lut.space()
    c = Constraint("latency:cpu", 40.0, lut.cost_tables(space), "ms", load_device("cpu"), lut)

    def measured(space, arch, check, protocol, strict_raw):
        lut_ms = float(c.tables(arch))
        return {"lut_ms": lut_ms, "decided_ms": lut_ms / 93, "within_budget": True}

    monkeypatch.setattr("dcnas_deploy.search.verify.measure_on_device", measured)
    with pytest.raises(DcnasError, match=r"0\.0108× the prediction.*does not describe this device.*--force") as err:
        verify_candidates(space, space.sample_sequence(3, 0), [c], checks=[DeviceCheck(c, False)])
    assert str(LUT_X4) in str(err.value)


# ---- 3. pan-sharpening files at another ratio than --scale ---------------------------------------------

def _h5(path: Path, ratio: int, gt: bool = True, group: str = "") -> Path:
    h5py = pytest.importorskip("h5py")
    rng = np.random.default_rng(0)
    with h5py.File(path, "w") as f:
        f["ms"] = rng.uniform(0, 2047, (2, 4, 8, 8))
        f["lms"] = rng.uniform(0, 2047, (2, 4, 8 * ratio, 8 * ratio))
        if group == "pan":
            f.create_group("pan")["x"] = np.zeros(3)
        else:
            f["pan"] = rng.uniform(0, 2047, (2, 1, 8 * ratio, 8 * ratio))
        if gt:
            f["gt"] = rng.uniform(0, 2047, (2, 4, 8 * ratio, 8 * ratio))
    return path


def test_pancollection_ratio_3_at_scale_4_is_refused_naming_file_and_sample(tmp_path):
    path = _h5(tmp_path / "wv3_r3.h5", 3)
    res, text = _invoke("evaluate", "-m", "bicubic", "-d", f"pancollection:{path}", "--scale", "4")
    _refused(res, text, str(path), "sample 0 (wv3_r3_00000", "PAN/MS ratio 3", "×4 was asked", "--scale 3")
    assert "RGB-D-D" not in text and "published" not in text  # not the depth wording
    res, text = _invoke("evaluate", "-m", "bicubic", "-d", f"pancollection:{path}", "--scale", "3")
    assert res.exit_code == 0, text


def test_evaluate_save_images_on_full_resolution_pansharpening(tmp_path):
    path = _h5(tmp_path / "full.h5", 4, gt=False)
    out = tmp_path / "res.json"
    res, text = _invoke("evaluate", "-m", "bicubic", "-d", f"pancollection:{path}", "--scale", "4",
                        "--save-images", str(tmp_path / "imgs"), "-o", str(out))
    assert res.exit_code == 0 and res.exception is None, text
    assert out.is_file() and sorted(p.name for p in (tmp_path / "imgs").iterdir()) == ["full_00000.png",
                                                                                     "full_00001.png"]


def test_hdf5_group_where_a_dataset_is_expected(tmp_path):
    path = _h5(tmp_path / "grp.h5", 4, group="pan")
    res, text = _invoke("evaluate", "-m", "bicubic", "-d", f"pancollection:{path}", "--scale", "4")
    _refused(res, text, f"{path}: 'pan' is an HDF5 group", "not a dataset", "expected an HDF5 file")


# ---- 5d. YAML alias bombs ------------------------------------------------------------------------------

def _bomb(path: Path) -> Path:
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 10)]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("argv", [["lut", "show"], ["arch", "validate"]])
def test_yaml_alias_bomb_is_refused(tmp_path, argv):
    t0 = time.perf_counter()
    res, text = _invoke(*argv, str(_bomb(tmp_path / "bomb.yaml")))
    _refused(res, text, "bomb.yaml: its aliases (*name) expand to over 1,000,000 values", "without nested anchors")
    assert time.perf_counter() - t0 < 20


def test_yaml_reader_keeps_plain_aliases_and_refuses_huge_text():
    from dcnas_deploy.fileio import MAX_YAML_CHARS, parse_yaml_text

    assert parse_yaml_text("a: &x [1, 2]\nb: *x\n", "ok.yaml") == {"a": [1, 2], "b": [1, 2]}
    with pytest.raises(ConfigError, match="huge.yaml: .* characters is far more than any LUT holds"):
        parse_yaml_text("#" * (MAX_YAML_CHARS + 1), "huge.yaml", "LUT")


# ---- 4. float results never silently rounded or clipped into PNG ---------------------------------------

def _thermal_inputs(tmp_path: Path) -> None:
    from PIL import Image

    rng = np.random.default_rng(0)
    np.save(tmp_path / "lr.npy", rng.uniform(-5, 300, (8, 8)).astype(np.float32))
    stripes = np.zeros((8, 8), np.uint8)
    stripes[::2] = 255
    Image.fromarray(stripes).save(tmp_path / "lr8.png")
    Image.fromarray(rng.integers(0, 256, (32, 32, 3)).astype(np.uint8)).save(tmp_path / "g.png")


@pytest.mark.parametrize("task", ["thermal", "saliency"])
def test_float_result_of_a_float_input_is_not_written_to_png(tmp_path, task):
    _thermal_inputs(tmp_path)
    res, text = _invoke("upsample", "-m", "bicubic", "--task", task, "--target", str(tmp_path / "lr.npy"),
                        "--guide", str(tmp_path / "g.png"), "-o", str(tmp_path / "out.png"))
    _refused(res, text, "the input was float (.npy)", "round it to integers", "out.tif or .npy instead")
    assert not (tmp_path / "out.png").exists()
    res, text = _invoke("upsample", "-m", "bicubic", "--task", task, "--target", str(tmp_path / "lr.npy"),
                        "--guide", str(tmp_path / "g.png"), "-o", str(tmp_path / "out.tif"))
    assert res.exit_code == 0, text
    from dcnas_deploy.data.bands import read_bands

    out, fmt = read_bands(tmp_path / "out.tif")
    assert fmt.dtype == "float32" and out.min() < 0 and out.max() > 255  # every value kept


def test_integer_input_overshoot_clipped_into_png_is_said(tmp_path):
    _thermal_inputs(tmp_path)
    res, text = _invoke("upsample", "-m", "bicubic", "--task", "thermal", "--target", str(tmp_path / "lr8.png"),
                        "--guide", str(tmp_path / "g.png"), "-o", str(tmp_path / "out.png"))
    assert res.exit_code == 0, text
    assert re.search(r"\d+ value\(s\) outside the input's uint8 range 0–255 \(resampling overshoot\) were "
                     r"clipped: write .*out.tif or .npy to keep them", text), text


# ---- 5a. a full disk ------------------------------------------------------------------------------------

def _disk_full_after(monkeypatch, good_writes: int) -> list:
    """Every atomic write after the first `good_writes` runs out of space half-way; returns the written paths."""
    import errno

    from dcnas_deploy import fileio

    real = fileio.atomic_write
    done: list = []

    def atomic_write(path, write):
        if len(done) < good_writes:
            done.append(Path(path))
            return real(path, write)

        def full(tmp):
            Path(tmp).write_bytes(b"half")
            raise OSError(errno.ENOSPC, "No space left on device")

        return real(path, full)

    monkeypatch.setattr(fileio, "atomic_write", atomic_write)
    return done


def _no_temp_files(root: Path) -> None:
    assert not [p for p in root.rglob(".*.tmp")], "a temp file was left behind"


def test_full_disk_in_upsample(tmp_path, monkeypatch):
    _thermal_inputs(tmp_path)
    (tmp_path / "out.png").write_bytes(b"earlier output")
    _disk_full_after(monkeypatch, 0)
    res, text = _invoke("upsample", "-m", "bicubic", "--task", "thermal", "--target", str(tmp_path / "lr8.png"),
                        "--guide", str(tmp_path / "g.png"), "-o", str(tmp_path / "out.png"))
    _refused(res, text, f"no space left on the device to write {tmp_path / 'out.png'}", "nothing was overwritten",
             "free some space")
    assert (tmp_path / "out.png").read_bytes() == b"earlier output"
    _no_temp_files(tmp_path)


def test_full_disk_in_evaluate_save_images(tmp_path, monkeypatch):
    path = _h5(tmp_path / "wv3.h5", 4)
    _disk_full_after(monkeypatch, 1)
    res, text = _invoke("evaluate", "-m", "bicubic", "-d", f"pancollection:{path}", "--scale", "4",
                        "--save-images", str(tmp_path / "imgs"))
    _refused(res, text, f"no space left on the device to write {tmp_path / 'imgs' / 'wv3_00001.png'}",
             "rerun the same command")
    assert [p.name for p in (tmp_path / "imgs").iterdir()] == ["wv3_00000.png"]
    _no_temp_files(tmp_path)


class _FakeMeasurer:
    """Measurer stand-in: ops 1 ms, the reference 20 ms; records how many ops it was asked to time."""

    timed: list = []

    def __init__(self, *args, **kwargs):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None

    def modules(self, items, progress=None):
        from dcnas_deploy.runtimes.protocol import Timing

        _FakeMeasurer.timed.append(len(items))
        return [Timing(1.0, 0.9, 1.1, 10, 0.5) for _ in items]

    def reference(self):
        from dcnas_deploy.runtimes.protocol import Timing

        return Timing(20.0, 19.0, 21.0, 10, 0.5)


def test_full_disk_in_profile_keeps_the_measured_ops_and_a_rerun_resumes(tmp_path, monkeypatch):
    from dcnas_deploy.lut.table import LUT

    monkeypatch.setattr("dcnas_deploy.runtimes.modules.Measurer", _FakeMeasurer)
    monkeypatch.setattr("dcnas_deploy.lut.profiler.measure_overhead", lambda profile, protocol: 0.01)
    monkeypatch.setattr("dcnas_deploy.model.op_models.op_model", lambda op: op)
    _FakeMeasurer.timed = []
    out = tmp_path / "t.yaml"
    argv = ("profile", "--device", "cpu", "--width", "4", "--hr", "32x32", "--scale", "8", "--calibrate", "0",
            "--quick", "--out", str(out))
    _disk_full_after(monkeypatch, 2)
    res, text = _invoke(*argv)
    _refused(res, text, f"no space left on the device to write the LUT {out}",
             "still holds everything measured up to the previous save", "rerun the same command: it resumes")
    kept = LUT.load(out)
    assert len(kept.ops) == 16 and sum(_FakeMeasurer.timed) == 24  # 2 chunks saved, the third lost
    _no_temp_files(tmp_path)
    monkeypatch.undo()
    monkeypatch.setattr("dcnas_deploy.runtimes.modules.Measurer", _FakeMeasurer)
    monkeypatch.setattr("dcnas_deploy.lut.profiler.measure_overhead", lambda profile, protocol: 0.01)
    monkeypatch.setattr("dcnas_deploy.model.op_models.op_model", lambda op: op)
    _FakeMeasurer.timed = []
    res, text = _invoke(*argv)
    assert res.exit_code == 0, text
    total = len(LUT.load(out).ops)
    assert sum(_FakeMeasurer.timed) == total - 16  # only the missing ops were measured again


# ---- 5e. the agent and a bundle that fails its CRC -----------------------------------------------------

def test_bundle_failing_its_crc_is_a_400_bundle_error(tmp_path):
    from test_agent_support import crc_broken_bundle

    from dcnas_deploy.agent.bundle import BundleError, unpack_bundle

    (tmp_path / "b.zip").write_bytes(crc_broken_bundle())
    with pytest.raises(BundleError, match=r"zip entry 'm.onnx' is corrupt \(BadZipFile: Bad CRC-32.*send it again"
                       ) as err:
        unpack_bundle(tmp_path / "b.zip", tmp_path, 1 << 20)
    assert err.value.status == 400
