"""The Table IX branch recipe and report (bench/sampling_ablation.py) and the trait counts (bench/arch_traits.py)."""
from __future__ import annotations

import argparse
import importlib.util
import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def bench_module(name: str):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", REPO / "bench" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def ablation():
    return bench_module("sampling_ablation")


def test_branch_preset_starts_from_the_warmup_and_sets_only_its_sampling(ablation, tmp_path):
    from dcnas_deploy.presets import load_preset

    base = load_preset("cpu-x8").to_dict()
    spos = ablation.branch_preset(base, "uniform", 2, 450, 5e-4, 150, 200, tmp_path / "warm")
    l2 = ablation.branch_preset(base, "l2", 2, 450, 5e-4, 150, 200, tmp_path / "warm")
    for p in (spos, l2):
        assert p.training.init_supernet == str(tmp_path / "warm") and p.training.steps == 450
        assert p.training.seed == 2 and p.training.lr == 5e-4 and p.training.lr_halve_every == 0
        assert p.sampling.warmup_steps == 0 and p.retrain.steps == 200 and p.data == load_preset("cpu-x8").data
    assert spos.sampling.strategy == "uniform" and spos.predictor.loss == "hinge"  # unused: no predictor
    assert l2.sampling.strategy == "predictor" and l2.predictor.loss == "l2" and l2.sampling.refresh_every == 150


def _branch(out: Path, variant: str, seed: int, rmse: float, kendall=None) -> None:
    held = {"median_in_budget": 0.1, **({"kendall": kendall, "kendall_in_budget": kendall / 2} if kendall else {})}
    stages = {"supernet": {"steps": 450}, "heldout": held, "search": {"val_rmse": 0.11 + seed / 1000},
              "retrain": {"rmse": rmse, "mae": rmse / 2}}
    d = out / f"{variant}-s{seed}" / "stages"
    d.mkdir(parents=True)
    for name, result in stages.items():
        (d / f"{name}.json").write_text(json.dumps({"settings": {}, "result": result, "seconds": 1.0}))


def test_report_gives_mean_and_range_over_finished_branches_only(ablation, tmp_path):
    _branch(tmp_path, "uniform", 0, 3.0)
    _branch(tmp_path, "uniform", 1, 3.2)
    _branch(tmp_path, "hinge", 0, 2.9, kendall=0.6)
    (tmp_path / "hinge-s1" / "stages").mkdir(parents=True)  # unfinished: left out
    args = argparse.Namespace(warmup=Path("W"), steps=450, lr=5e-4, heldout=120, retrain_steps=200, preset="cpu-x8")
    text = ablation.report(tmp_path, ["uniform", "hinge", "l1"], args)
    rows = {line.split("|")[1].strip(): line for line in text.splitlines() if line.startswith("| ")}
    assert "| 2 | — | — |" in rows["uniform (SPOS)"] and "3.100 (3.000–3.200)" in rows["uniform (SPOS)"]
    assert "| 1 | 0.600 | 0.300 |" in rows["hinge"] and "2.900" in rows["hinge"]
    assert "l1" not in rows and "Middlebury ×8" in text
    assert "s0 3.000, s1 3.200" in text and (tmp_path / "table9.png").is_file()


def test_traits_of_the_hand_design():
    from dcnas_deploy.space import SearchSpace
    from dcnas_deploy.train.supernet import HAND_DESIGN

    t = bench_module("arch_traits").traits(HAND_DESIGN, SearchSpace(width=8, scale=8))
    assert t["fusion"] == ["concat_pw"] * 4
    assert all(set(ks) == {3} for ks in t["kernels"].values())
    assert sum(len(ks) for ks in t["kernels"].values()) == 3 * 4 * 2  # three branches, four stages, depth 2
    assert t["params"]["guide"] > t["params"]["target"] > 0  # same blocks; the guide's stem takes 3 channels
