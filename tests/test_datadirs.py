"""Where devices, presets and LUTs are found and where new ones go (dcnas_deploy.datadirs)."""
from __future__ import annotations

from pathlib import Path

import pytest

from dcnas_deploy import datadirs
from dcnas_deploy.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    """No DCNAS_* overrides; the user data folder under tmp_path."""
    for var in datadirs.ENV.values():
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    return tmp_path / "xdg" / "dcnas-deploy"


@pytest.fixture
def installed(monkeypatch, clean_env):
    """As if installed from a wheel: no source checkout."""
    monkeypatch.setattr(datadirs, "source_checkout", lambda: None)
    return clean_env


def test_source_checkout_writes_and_reads_the_repository_folders(clean_env):
    assert datadirs.source_checkout() == REPO
    for kind in datadirs.ENV:
        assert datadirs.shipped_dir(kind) == REPO / kind
        assert datadirs.new_files_dir(kind) == REPO / kind
        assert datadirs.search_dirs(kind) == [REPO / kind, clean_env / kind]


def test_installed_package_writes_to_the_user_folder_and_reads_the_shipped_copy(installed):
    for kind in datadirs.ENV:
        assert datadirs.new_files_dir(kind) == installed / kind
        dirs = datadirs.search_dirs(kind)
        assert dirs[0] == installed / kind and len(dirs) == 2  # then the package's copy


def test_environment_variables_come_first_and_take_new_files(installed, monkeypatch, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    monkeypatch.setenv("DCNAS_DEVICES", f"{a}:{b}")
    assert datadirs.search_dirs("devices")[:3] == [a, b, installed / "devices"]
    assert datadirs.new_files_dir("devices") == a
    monkeypatch.setenv("DCNAS_LUTS", str(tmp_path / "not-yet"))  # LUTs: one folder, made on first write
    assert datadirs.new_files_dir("luts") == tmp_path / "not-yet"
    monkeypatch.setenv("DCNAS_PROFILES", str(tmp_path / "nope"))
    with pytest.raises(ConfigError, match="DCNAS_PROFILES names .*nope, which does not exist"):
        datadirs.search_dirs("profiles")


def test_a_read_only_checkout_sends_new_files_to_the_user_folder(clean_env, monkeypatch):
    monkeypatch.setattr(datadirs.os, "access", lambda path, mode: False)
    assert datadirs.new_files_dir("luts") == clean_env / "luts"
    assert datadirs.search_dirs("luts") == [clean_env / "luts", REPO / "luts"]


def test_luts_are_found_by_name_in_every_folder(installed, tmp_path, monkeypatch):
    import shutil

    from dcnas_deploy.lut.table import find_lut, lut_file
    from dcnas_deploy.space import SearchSpace

    shipped = REPO / "luts" / "cpu-c8-64x64-x4.yaml"
    monkeypatch.setattr(datadirs, "shipped_dir", lambda kind: REPO / kind)
    assert lut_file("cpu-c8-64x64-x4") == shipped
    assert lut_file("cpu-c8-64x64-x4.yaml") == shipped
    (installed / "luts").mkdir(parents=True)
    shutil.copy(shipped, installed / "luts" / shipped.name)
    assert lut_file("cpu-c8-64x64-x4") == installed / "luts" / shipped.name  # the user's copy wins
    lut = find_lut("cpu", SearchSpace(width=8, scale=4, hr_size=(64, 64)))
    assert lut.path == installed / "luts" / shipped.name
    with pytest.raises(ConfigError, match="LUT not found: nosuch .*dcnas-deploy paths"):
        lut_file("nosuch")


def test_devices_and_presets_come_from_the_search_folders(installed, monkeypatch, tmp_path):
    from dcnas_deploy.presets import known_presets
    from dcnas_deploy.runtimes.devices import known_devices, load_device

    monkeypatch.setattr(datadirs, "shipped_dir", lambda kind: REPO / kind)
    (installed / "devices").mkdir(parents=True)
    (installed / "devices" / "mine.yaml").write_text((REPO / "devices" / "cpu.yaml").read_text()
                                                    .replace("name: cpu", "name: mine"))
    assert "mine" in known_devices() and "cpu" in known_devices()
    assert load_device("mine").source == installed / "devices" / "mine.yaml"
    assert "demo" in known_presets()
