"""`dcnas-deploy demo` end to end with a tiny preset: every report artefact exists, every number in the
report comes from this run's stage records, and a second run reuses every stage."""
from __future__ import annotations

import json
import re
import shutil

import pytest
import yaml
from typer.testing import CliRunner

from dcnas_deploy.cli.main import app
from dcnas_deploy.presets import load_preset

pytestmark = pytest.mark.timeout(900)


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    d = tmp_path_factory.mktemp("demo")
    preset = load_preset("demo").to_dict()
    preset["name"] = "tiny-test"
    preset["space"].update({"width": 4, "scale": 4, "hr_size": [32, 32]})
    preset["data"].update({"spec": "synthetic:n=12,size=32", "patch_size": 32, "batch_size": 4, "val_crops": 4,
                           "val_batch": 4, "cache_samples": 12})
    preset["training"].update({"steps": 12, "checkpoint_every": 6, "log_every": 4, "lr_halve_every": 0})
    preset["sampling"].update({"warmup_steps": 6, "refresh_every": 6, "refresh_paths": 6, "init_paths": 8, "m": 4})
    preset["predictor"].update({"init_epochs": 2, "refresh_epochs": 1})
    preset["search"].update({"population": 4, "topk": 2, "crossovers": 2, "mutations": 2, "iterations": 1,
                             "init_pool": 8})
    preset["retrain"].update({"steps": 6, "lr_halve_every": 0})
    path = d / "tiny.yaml"
    path.write_text(yaml.safe_dump(preset))
    out = d / "run"
    args = ["demo", "--preset", str(path), "--out", str(out), "--quick", "--calibrate", "3",
            "--budget-percentile", "90"]  # quick timings are noisy: leave the closed loop room
    res = CliRunner().invoke(app, args)
    if res.exit_code != 0 and "no candidate measured within budget" in res.output:
        # this tiny search's candidates all sit within ~10-20 % of its budget, and a quick ~1 ms timing misses by
        # that once in a few suites (seen 2026-12-07: 1.33 ms vs 1.22; 2026-12-08: 1.39 vs 1.30, the table
        # predicting 1.08, profiled with 3 quick networks while the suite ran): the rerun resumes the demo with its
        # table measured again (the other finished stages reused); a second miss fails
        shutil.rmtree(out / "luts", ignore_errors=True)
        (out / "stages" / "profile.json").unlink(missing_ok=True)
        res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    return out, res.output


def test_every_report_artefact_exists(demo_run):
    out, _ = demo_run
    md = (out / "report.md").read_text()
    html = (out / "report.html").read_text()
    for img in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md):
        assert (out / img).stat().st_size > 1000, img
        assert img in html
    for name in ("profile", "supernet", "search", "retrain", "export", "benchmark", "evaluate"):
        assert (out / "stages" / f"{name}.json").is_file()
    assert (out / "arch.yaml").is_file() and (out / "final" / "model.pt").is_file()
    assert "Smoke-test run" in md  # --quick numbers are labelled as such


def test_report_numbers_come_from_this_run(demo_run):
    out, _ = demo_run
    md = (out / "report.md").read_text()
    rec = {p.stem: json.loads(p.read_text())["result"] for p in (out / "stages").glob("*.json")}
    s = rec["search"]
    assert f"**{s['budget_ms']:.3f} ms**" in md
    assert f"{s['evaluated']} architectures evaluated" in md
    for t in s["closed_loop"]:
        for v in t["devices"].values():
            assert f"| {v['lut_ms']:.3f} | {v['measured']['median_ms']:.3f} |" in md
    for row in rec["export"]["rows"]:
        if row.get("psnr_db") is not None:
            assert f"{row['psnr_db']:.1f}" in md
    for row in rec["benchmark"]["rows"]:
        assert f"{row['median_ms']:.3f}" in md
    for per_model in rec["evaluate"]["metrics"].values():
        for m in per_model.values():
            assert f"{m['rmse']:.4g}" in md


def test_second_run_reuses_every_stage(demo_run):
    out, _ = demo_run
    preset = next(out.parent.glob("tiny.yaml"))
    res = CliRunner().invoke(app, ["demo", "--preset", str(preset), "--out", str(out), "--quick", "--calibrate", "3",
                                   "--budget-percentile", "90"])
    assert res.exit_code == 0, res.output
    assert res.output.count("done earlier") == 7
