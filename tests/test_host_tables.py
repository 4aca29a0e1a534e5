"""Tables per host: a missing, foreign (another host's fingerprint) or stale table is answered the same way by
`search`, `lut check` and `profile`: this host is profiled into hosts/<host key>/ beside the others (a table of
another host is never overwritten), or, with --no-profile, refused with the command that measures it."""
from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from dcnas_deploy.cli.main import app
from dcnas_deploy.errors import ConfigError
from dcnas_deploy.lut import host_tables
from dcnas_deploy.lut.profiler import current_fingerprint, profile_device
from dcnas_deploy.lut.table import LUT, default_lut_path
from dcnas_deploy.runtimes.devices import load_device
from dcnas_deploy.runtimes.fingerprint import compare, short_key
from dcnas_deploy.runtimes.protocol import QUICK
from dcnas_deploy.space import SearchSpace

SPACE = SearchSpace(width=4, scale=4, hr_size=(32, 32))
DEVICE = "cpu-torch"


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _foreign(path: Path) -> None:
    """Make the table at `path` look measured on another CPU (the committed tables' Intel AMX host)."""
    lut = LUT.load(path)
    fp = dict(lut.provenance["fingerprint"])
    fp.update(cpu_vendor="GenuineIntel", cpu_family="6", cpu_model="207",
              isa=sorted(set(fp.get("isa") or []) ^ {"amx_tile", "amx_bf16"}))
    lut.provenance["fingerprint"] = fp
    lut.save(path)


@pytest.fixture(scope="module")
def measured(tmp_path_factory) -> Path:
    """One real quick-protocol table of this host at the tiny geometry (copied by each test)."""
    folder = tmp_path_factory.mktemp("host-luts")
    path = default_lut_path(DEVICE, SPACE, folder=folder)
    profile_device(load_device(DEVICE).with_threads(1), SPACE, path, calibrate=3, protocol=QUICK)
    return path


@pytest.fixture
def lut_folder(tmp_path, monkeypatch, measured) -> Path:
    """A private LUT folder holding a copy of the measured table under its flat name."""
    folder = tmp_path / "luts"
    folder.mkdir()
    (folder / measured.name).write_bytes(measured.read_bytes())
    monkeypatch.setenv("DCNAS_LUTS", str(folder))
    return folder


def test_host_key_tells_hosts_apart():
    """Same machine -> same folder; another ISA or runtime version -> another folder; readable prefix."""
    fp = current_fingerprint(load_device(DEVICE).with_threads(1))
    key = host_tables.host_key(fp)
    assert key == host_tables.host_key(dict(fp)) and key.startswith(short_key(fp) + "-")
    assert host_tables.host_key({**fp, "isa": sorted(set(fp["isa"]) ^ {"amx_bf16"})}) != key
    assert host_tables.host_key({**fp, "runtime_version": "0.0"}) != key
    assert host_tables.host_key({**fp, "cores": 64, "cpu_name": "other name"}) == key  # soft fields do not count


def test_this_hosts_table_is_found_without_profiling(lut_folder, monkeypatch):
    flat = lut_folder / default_lut_path(DEVICE, SPACE).name
    monkeypatch.setattr(host_tables, "profile_device", _no_profiling)
    lut = host_tables.ensure_host_lut(load_device(DEVICE).with_threads(1), SPACE, QUICK)
    assert lut.file == flat


def _no_profiling(*args, **kwargs):
    raise AssertionError("profiled although this host's table was there")


def test_foreign_table_is_kept_and_this_host_profiled_beside_it(lut_folder):
    """The only table is another host's: profiled into hosts/<key>/, the foreign file byte for byte unchanged; a
    second call finds this host's table; --no-profile refuses naming the field and the command."""
    flat = lut_folder / default_lut_path(DEVICE, SPACE).name
    _foreign(flat)
    before = _digest(flat)
    profile = load_device(DEVICE).with_threads(1)
    with pytest.raises(ConfigError, match=r"different host.*cpu_vendor.*dcnas-deploy profile --device cpu-torch"):
        host_tables.ensure_host_lut(profile, SPACE, QUICK, allow_profile=False)
    said = []
    lut = host_tables.ensure_host_lut(profile, SPACE, QUICK, say=said.append, calibrate=3)
    key = host_tables.host_key(current_fingerprint(profile))
    assert lut.file == lut_folder / "hosts" / key / flat.name and lut.calibration is not None
    assert len(said) == 1 and "different host" in said[0] and "profiling this host first" in said[0]
    assert _digest(flat) == before
    again = host_tables.ensure_host_lut(profile, SPACE, QUICK, allow_profile=False)
    assert again.file == lut.file
    assert host_tables.profile_out_path(profile, SPACE) == lut.file  # `profile` never overwrites the foreign table


def test_stale_table_is_reprofiled_into_this_hosts_folder(lut_folder):
    """A table whose reference ran 6x faster than this host runs it now is stale when budgets are held: re-measured
    into hosts/<key>/, the old file untouched; without the speed check it is used as it is."""
    flat = lut_folder / default_lut_path(DEVICE, SPACE).name
    from test_search import faster_host

    d = yaml.safe_load(flat.read_text())
    faster_host(d)
    flat.write_text(yaml.safe_dump(d, sort_keys=False))
    before = _digest(flat)
    profile = load_device(DEVICE).with_threads(1)
    assert host_tables.ensure_host_lut(profile, SPACE, QUICK).file == flat
    with pytest.raises(ConfigError, match=r"slower than when .* was profiled.*--force"):
        host_tables.ensure_host_lut(profile, SPACE, QUICK, allow_profile=False, check_speed=True)
    said = []
    lut = host_tables.ensure_host_lut(profile, SPACE, QUICK, check_speed=True, say=said.append, calibrate=3)
    assert lut.file.parent.parent == lut_folder / "hosts" and "slower" in said[0]
    assert _digest(flat) == before


def _cli(*args: str, code: int = 0) -> str:
    res = CliRunner().invoke(app, list(args))
    assert res.exit_code == code, res.output
    return res.output


def test_lut_check_of_a_foreign_table_checks_this_hosts(lut_folder):
    """`lut check` of another host's table says so and checks this host's table (profiled first); --no-profile
    refuses; the foreign file is unchanged."""
    flat = lut_folder / default_lut_path(DEVICE, SPACE).name
    _foreign(flat)
    before = _digest(flat)
    out = _cli("lut", "check", str(flat), "--archs", "2", "--quick", "--no-profile", code=2)
    assert "different host" in out and "drop --no-profile" in out
    out = _cli("lut", "check", str(flat), "--archs", "2", "--quick")
    assert "checking this host's table" in out and "profiling this host first" in out and "hosts/" in out
    assert "2 architectures re-measured" in out and _digest(flat) == before


def test_search_as_typed_on_a_host_no_table_matches(lut_folder, tmp_path, monkeypatch, lenient_host_check):
    """The card's `search --latency 40ms` with only another host's table: profiles this host, searches, exit 0;
    with --no-profile it refuses with today's message (exit 2) and writes nothing."""
    from test_headline_commands import _tiny_preset

    monkeypatch.chdir(tmp_path)
    flat = lut_folder / default_lut_path("cpu", SPACE).name
    profile_device(load_device("cpu").with_threads(1), SPACE, flat, calibrate=3, protocol=QUICK)
    _foreign(flat)
    before = _digest(flat)
    preset = _tiny_preset(tmp_path)
    _cli("train-supernet", "--preset", str(preset), "--out", "runs/super", "--no-progress")
    out = _cli("search", "--latency", "40ms", "--quick", "--no-profile", code=2)
    assert "different host" in out and "dcnas-deploy profile --device cpu" in out
    assert not (tmp_path / "arch.yaml").exists()
    out = _cli("search", "--latency", "40ms", "--quick")
    assert "profiling this host first" in out and (tmp_path / "arch.yaml").is_file()
    assert list((lut_folder / "hosts").glob(f"*/{flat.name}")) and _digest(flat) == before


def test_search_reprofiles_a_table_found_stale_after_the_search(lut_folder, tmp_path, monkeypatch, lenient_host_check):
    """The closed loop finds the table stale (a table profiled while the machine was busy, checked once it is
    quiet): `search` profiles this host again into hosts/<key>/, searches once more (scores reused), exit 0."""
    from test_headline_commands import _tiny_preset

    from dcnas_deploy.search import verify

    monkeypatch.chdir(tmp_path)
    flat = lut_folder / default_lut_path("cpu", SPACE).name
    profile_device(load_device("cpu").with_threads(1), SPACE, flat, calibrate=3, protocol=QUICK)
    before = _digest(flat)
    preset = _tiny_preset(tmp_path)
    _cli("train-supernet", "--preset", str(preset), "--out", "runs/super", "--no-progress")
    real, calls = verify.host_check, []

    def stale_once(check, space, protocol, note):
        calls.append(check.constraint.lut.path)
        if len(calls) == 1:
            verify.check_factor(check.constraint, 30.0)  # beyond the lenient 10x too
        real(check, space, protocol, note)

    monkeypatch.setattr(verify, "host_check", stale_once)
    out = _cli("search", "--latency", "40ms", "--quick")
    assert "30.00× slower" in out and "no longer describes this host's speed" in out and "profiling this host first" in out
    assert len(calls) == 2 and calls[0] == flat and calls[1].parent.parent == lut_folder / "hosts"
    assert (tmp_path / "arch.yaml").is_file() and _digest(flat) == before


def test_a_litert_table_of_the_graph_before_its_rewrites_is_another_hosts():
    """LiteRT tables record the version of the op rewrites (model.litert_forms) their op models were converted with,
    so a table timed on the plain graph (no `graph_forms`) is not reused for the rewritten one, nor the reverse."""
    from dcnas_deploy.runtimes.fingerprint import GRAPH_FORMS

    fp = current_fingerprint(load_device("cpu-tflite"))
    assert fp["graph_forms"] == GRAPH_FORMS["litert"]
    assert current_fingerprint(load_device("cpu"))["graph_forms"] is None
    committed = LUT.load(Path(__file__).resolve().parents[1] / "luts" / "cpu-tflite-c8-256x256-x8.yaml")
    assert committed.fingerprint["graph_forms"] == GRAPH_FORMS["litert"]  # re-made with the forms
    plain = {**committed.fingerprint, "graph_forms": None}  # the table as it was before the rewrites
    assert "graph_forms" in [m.field for m in compare(plain, fp) if m.hard]
    assert "graph_forms" in [m.field for m in committed.host_mismatches({**fp, "graph_forms": None}) if m.hard]
    assert host_tables.host_key({**fp, "graph_forms": None}) != host_tables.host_key(fp)
