"""Installable like a library (issue 18): the wheel ships devices/, profiles/ and luts/, and new files go to
the user data folder when the package does not run from a source checkout."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PY = sys.executable
SOURCES = ("pyproject.toml", "setup.py", "README.md", "dcnas_deploy", "devices", "profiles", "luts")


def _setuptools_builds_wheels() -> bool:
    """Whether this environment's setuptools builds wheels by itself (≥ 70.1 needs no `wheel` package)."""
    from importlib import metadata

    try:
        major, minor = (int(x) for x in metadata.version("setuptools").split(".")[:2])
    except (metadata.PackageNotFoundError, ValueError):
        return False
    return (major, minor) >= (70, 1)


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The wheel built from a copy of this checkout, installed non-editable (`pip install --target`)."""
    base = tmp_path_factory.mktemp("wheel")
    src = base / "src"
    src.mkdir()
    for name in SOURCES:
        path = REPO / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(path, src / name)
    isolation = ["--no-build-isolation"] if _setuptools_builds_wheels() else []  # else pip fetches a build env
    subprocess.run([PY, "-m", "pip", "wheel", "-q", "--no-deps", *isolation, "-w", str(base / "dist"), str(src)],
                   check=True, capture_output=True, text=True, timeout=300)
    wheel = next((base / "dist").glob("dcnas_deploy-*.whl"))
    target = base / "site"
    subprocess.run([PY, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(wheel)],
                   check=True, capture_output=True, text=True, timeout=300)
    return target


def _run(target: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    """The installed CLI, from outside the checkout, with a private user data folder and no DCNAS_* overrides."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DCNAS_")}
    env.update(PYTHONPATH=str(target), XDG_DATA_HOME=str(cwd / "xdg"), HOME=str(cwd))
    r = subprocess.run([PY, "-m", "dcnas_deploy.cli.main", *args], cwd=cwd, env=env, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, f"{args}: {r.stdout}\n{r.stderr}"
    assert "Traceback" not in r.stderr
    return r


def test_wheel_ships_the_data_folders_and_runs_outside_the_checkout(installed, tmp_path):
    shipped = installed / "dcnas_deploy" / "shipped"
    for folder in ("devices", "profiles", "luts"):
        assert sorted(p.name for p in (shipped / folder).glob("*.yaml")) == \
            sorted(p.name for p in (REPO / folder).glob("*.yaml")), folder
    ours = REPO / "dcnas_deploy" / "pretrained"
    theirs = installed / "dcnas_deploy" / "pretrained"
    assert sorted(p.relative_to(theirs).as_posix() for p in theirs.glob("*/*") if p.suffix in (".pt", ".yaml")) == \
        sorted(p.relative_to(ours).as_posix() for p in ours.glob("*/*") if p.suffix in (".pt", ".yaml"))
    env_check = _run(installed, tmp_path, "paths", "--json")
    info = json.loads(env_check.stdout)
    assert info["source_checkout"] is None
    kinds = {k["kind"]: k for k in info["kinds"]}
    user = tmp_path / "xdg" / "dcnas-deploy"
    for kind in ("devices", "profiles", "luts"):
        assert kinds[kind]["new_files"] == str(user / kind)
        assert [s["path"] for s in kinds[kind]["search"]] == [str(user / kind), str(shipped / kind)]

    devices = json.loads(_run(installed, tmp_path, "devices", "--no-check", "--json").stdout)
    assert {"cpu", "cpu-torch", "cpu-tflite", "ncs2"} <= {d["name"] for d in devices["devices"]}
    assert all(d["source"].startswith(str(shipped)) for d in devices["devices"])
    assert "demo" in _run(installed, tmp_path, "presets").stdout
    lut = json.loads(_run(installed, tmp_path, "lut", "show", "cpu-c8-64x64-x4", "--json").stdout)
    assert lut["path"] == str(shipped / "luts" / "cpu-c8-64x64-x4.yaml") and lut["ops"] > 0
    _run(installed, tmp_path, "arch", "sample", "--seed", "1", "-o", "arch.yaml")
    assert (tmp_path / "arch.yaml").is_file()

    _run(installed, tmp_path, "profile", "--device", "cpu-torch", "--width", "4", "--hr", "32x32", "--scale", "8",
         "--calibrate", "1", "--quick")
    made = user / "luts" / "cpu-torch-c4-32x32-x8.yaml"
    assert made.is_file()
    assert not list(shipped.glob("luts/cpu-torch-c4-*"))  # nothing written into the installed package
    again = json.loads(_run(installed, tmp_path, "lut", "show", "cpu-torch-c4-32x32-x8", "--json").stdout)
    assert again["path"] == str(made)  # a profiled table is found by name like a shipped one
    code = "import dcnas_deploy; print(dcnas_deploy.__file__)"
    where = subprocess.run([PY, "-c", code], cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(installed)},
                           capture_output=True, text=True, check=True).stdout.strip()
    assert where.startswith(str(installed))  # the installed copy ran, not the checkout
