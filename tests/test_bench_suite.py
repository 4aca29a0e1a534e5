"""bench/suite.yaml and its runner bench/run.py: one row per bench script, rows that parse and stay out of the
package, and a runner that records every run (a fake suite here: no benchmark runs)."""
from __future__ import annotations

import importlib.util
import json
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "bench"
PENDING: set = set()
"""Scripts with a row whose file may not be committed yet (written beside this change); their rows are checked in
full once the file is here. Empty this set when they are."""
OUTPUT_FLAGS = ("--out", "--run", "--json", "--ship-root", "--heldout")


def _load_runner():
    if "bench_run" in sys.modules:
        return sys.modules["bench_run"]
    spec = importlib.util.spec_from_file_location("bench_run", BENCH / "run.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["bench_run"] = mod  # dataclasses look their module up while the class is made
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def runner():
    return _load_runner()


@pytest.fixture(scope="module")
def rows(runner):
    return runner.load_suite()


def _scripts() -> list:
    return sorted(f"bench/{p.name}" for p in BENCH.glob("*.py") if p.name != "run.py" and not p.name.startswith("_"))


def test_every_bench_script_has_exactly_one_row_and_every_row_a_script(rows):
    listed = [r.script for r in rows]
    assert sorted(s for s in _scripts() if listed.count(s) != 1) == [], "add a row to bench/suite.yaml (one each)"
    missing = {s for s in listed if not (REPO / s).is_file()}
    assert missing <= PENDING, f"rows whose script does not exist: {sorted(missing - PENDING)}"
    assert len({r.name for r in rows}) == len(rows)


def _row_ids(rows_):
    return [r.name for r in rows_]


ROWS = _load_runner().load_suite()


@pytest.mark.parametrize("row", ROWS, ids=_row_ids(ROWS))
def test_row_flags_are_the_scripts_own_and_its_paths_exist(row):
    path = REPO / row.script
    if not path.is_file():
        assert row.script in PENDING
        pytest.skip(f"{row.script} not in this checkout")
    src = path.read_text()
    for arg in row.args:
        if arg.startswith("--"):
            flag = arg.split("=", 1)[0]
            assert f'"{flag}"' in src or f"'{flag}'" in src, f"{row.script} has no option {flag}"
        elif "/" in arg and not arg.startswith("runs/"):
            assert (REPO / arg).exists(), f"{row.name}: {arg} does not exist"


@pytest.mark.parametrize("row", ROWS, ids=_row_ids(ROWS))
def test_no_row_writes_into_the_package(row):
    assert not any("dcnas_deploy" in a for a in row.args)
    assert "--commit-lut" not in row.args  # gpu_smoke's copy into luts/
    for flag, value in zip(row.args, row.args[1:]):
        if flag in OUTPUT_FLAGS:
            assert value.startswith("runs/"), f"{row.name}: {flag} {value} is not under runs/"
    assert row.out is None or str(row.out).startswith("runs/")
    path = REPO / row.script
    if path.is_file():
        src = path.read_text()
        if '"--out"' in src:
            assert "--out" in row.args, f"{row.name}: pass --out (the script's default may lie outside runs/)"
        if any(k in src for k in ("PRETRAINED_DIR", "update_card", "ship_model")):
            assert "--ship-root" in row.args or "package-write" in row.needs, \
                f"{row.name} ships into the package: give --ship-root runs/... or needs: [package-write]"


def test_train_pretrained_ships_under_runs(rows):
    (row,) = [r for r in rows if r.script == "bench/train_pretrained.py"]
    assert row.args[row.args.index("--ship-root") + 1].startswith("runs/")


def test_sets_follow_minutes_and_a_file_need_follows_its_producer(rows):
    for r in rows:
        if r.minutes != "unknown":
            assert (r.set == "quick") == (r.minutes <= 5), f"{r.name}: {r.minutes} min in set {r.set}"
    for i, r in enumerate(rows):
        for need in r.needs:
            if need.startswith("file:"):
                earlier = [p.name for p in rows[:i] if p.out and need[5:].startswith(str(p.out).rstrip("/") + "/")]
                assert earlier, f"{r.name} needs {need[5:]}: no earlier row writes it"


def test_make_bench_runs_the_quick_set():
    make = (REPO / "Makefile").read_text()
    recipe = make.split("\nbench:", 1)[1].split("\n\n", 1)[0]
    assert "bench/run.py --set quick" in recipe and "$(STAMP)" in recipe.splitlines()[0]


def test_dry_run_prints_one_command_per_row(rows):
    done = subprocess.run([sys.executable, "bench/run.py", "--dry-run", "--set", "all"], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert [shlex.split(line.split("  # ")[0]) for line in lines] == [[sys.executable, r.script, *r.args]
                                                                      for r in rows]


def test_the_loader_refuses_a_malformed_row(runner, tmp_path):
    bad = tmp_path / "suite.yaml"
    bad.write_text("rows:\n  - {name: x, script: x.py, args: [], minutes: 1, set: medium, needs: [none], out: null,"
                   " what: x}\n")
    with pytest.raises(runner.SuiteError, match="set"):
        runner.load_suite(bad)
    bad.write_text("rows:\n  - {name: x, script: x.py, args: [--n, 3], minutes: 1, set: quick, needs: [none],"
                   " out: null, what: x}\n")
    with pytest.raises(runner.SuiteError, match="strings"):
        runner.load_suite(bad)


@pytest.fixture
def fake_suite(runner, tmp_path, monkeypatch):
    (tmp_path / "ok.py").write_text("print('hello from ok')\n")
    (tmp_path / "bad.py").write_text("import sys\nprint('about to fail')\nsys.exit(3)\n")
    suite = tmp_path / "suite.yaml"
    suite.write_text(
        "rows:\n"
        f"  - {{name: ok, script: {tmp_path / 'ok.py'}, args: [], minutes: 1, set: quick, needs: [none], out: null,"
        " what: prints}\n"
        f"  - {{name: bad, script: {tmp_path / 'bad.py'}, args: [], minutes: 1, set: quick, needs: [none],"
        " out: null, what: exits 3}\n"
        f"  - {{name: later, script: {tmp_path / 'ok.py'}, args: [], minutes: 9, set: long,"
        f" needs: ['file:{tmp_path / 'absent.csv'}'], out: null, what: needs a file}}\n")
    monkeypatch.setattr(runner, "SUITE", suite)
    monkeypatch.setattr(runner, "RECORDS", tmp_path / "records.jsonl")
    monkeypatch.setattr(runner, "LOGS", tmp_path / "logs")
    return tmp_path


def _records(folder: Path) -> list:
    return [json.loads(line) for line in (folder / "records.jsonl").read_text().splitlines()]


def test_runner_records_each_run_and_fails_when_a_row_fails(runner, fake_suite, capsys):
    assert runner.main(["ok"]) == 0
    assert "hello from ok" in capsys.readouterr().out
    assert runner.main(["bad"]) == 1
    assert runner.main(["--set", "all"]) == 1
    recs = _records(fake_suite)
    assert [(r["name"], r["status"], r.get("exit_code")) for r in recs] == [
        ("ok", "ok", 0), ("bad", "failed", 3), ("ok", "ok", 0), ("bad", "failed", 3), ("later", "skipped", None)]
    assert "absent.csv does not exist" in recs[-1]["reason"]
    first = recs[0]
    assert first["git"]["commit"] and isinstance(first["git"]["dirty"], bool)
    assert first["host"]["cores"] >= 1 and "isa" in first["host"] and "cpu_vendor" in first["host"]
    assert {"torch", "onnxruntime", "openvino", "ai-edge-litert"} <= set(first["packages"])
    assert first["start_utc"].endswith("Z") and first["end_utc"] >= first["start_utc"] and first["seconds"] >= 0
    assert first["command"].endswith("ok.py") and first["python"] == ".".join(map(str, sys.version_info[:3]))
    assert (REPO / first["log"] if not Path(first["log"]).is_absolute() else Path(first["log"])).read_text() \
        == "hello from ok\n"


def test_quick_set_and_dry_run_of_the_fake_suite(runner, fake_suite, capsys):
    assert runner.main(["--set", "quick", "--dry-run"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 2 and out[0].endswith("ok.py") and out[1].endswith("bad.py")
    assert not (fake_suite / "records.jsonl").exists()  # a dry run records nothing
    with pytest.raises(SystemExit):
        runner.main(["nosuchrow"])
