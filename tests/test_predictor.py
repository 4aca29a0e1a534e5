"""Ranking predictor: tokens, losses, fitting, scoring API, scored-paths files, fit/eval on a run."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from dcnas_deploy.errors import ConfigError
from dcnas_deploy.predictor import Predictor, tokenize
from dcnas_deploy.predictor.evaluate import rank_metrics, rank_scatter
from dcnas_deploy.predictor.fit import fit_predictor
from dcnas_deploy.predictor.losses import get_loss, known_losses
from dcnas_deploy.predictor.scored import append_scored, read_scored, truncate_scored
from dcnas_deploy.space import SearchSpace
from dcnas_deploy.space.genes import FUSIONS, block_gene, fusion_gene

REPO = Path(__file__).resolve().parents[1]
SPACE = SearchSpace(width=8, scale=4, hr_size=(64, 64))

@pytest.fixture(autouse=True)
def _one_thread(one_thread):
    """Every test here runs with one torch thread (conftest's one_thread)."""



def test_dead_genes_do_not_change_tokens_or_scores():
    g = SPACE.sample_genomes(1, 0)[0]
    for lv in range(4):
        g[fusion_gene(lv)] = FUSIONS.index("target")  # the guide encoder is dead everywhere
    h = g.copy()
    for slot in range(4):
        h[block_gene("guide_encoder", 2, slot)] = (h[block_gene("guide_encoder", 2, slot)] + 1) % 16
    assert not np.array_equal(g, h)
    assert np.array_equal(tokenize(g), tokenize(h))
    p = Predictor.create(0.0, 1.0, embed_dim=4, hidden=8, seed=0)
    assert p.score(g, 0.5)[0] == p.score(h, 0.5)[0]
    live = g.copy()
    live[block_gene("target_encoder", 0, 0)] = (live[block_gene("target_encoder", 0, 0)] + 1) % 16
    assert not np.array_equal(tokenize(g), tokenize(live))


def test_score_is_vectorised_and_batch_independent():
    p = Predictor.create(0.0, 2e6, embed_dim=4, hidden=8, seed=1)
    g = SPACE.sample_genomes(2500, 1)
    all_at_once = p.score(g, 1e6)
    assert all_at_once.shape == (2500,) and all_at_once.dtype == np.float64
    one_by_one = np.array([p.score(x, 1e6)[0] for x in g[:20]])
    assert np.allclose(one_by_one, all_at_once[:20], atol=1e-5)
    per_path_tau = p.score(g[:5], np.array([0, 1e6, 2e6, 1e6, 0]))
    assert per_path_tau.shape == (5,)


def test_losses_behave_as_documented():
    s_good = torch.tensor([3.0, 2.0, 1.0])  # correctly ordered by ≥ 1
    t = torch.tensor([1.0, 0.0, -1.0])
    assert float(get_loss("hinge")(s_good, t, 0.5)) == 0.0
    assert float(get_loss("hinge")(s_good.flip(0), t, 0.5)) > 0
    assert float(get_loss("ranknet")(s_good, t, 0.0)) < float(get_loss("ranknet")(s_good.flip(0), t, 0.0))
    assert float(get_loss("l1")(t, t, 0.0)) == 0.0 and float(get_loss("l2")(t + 1, t, 0.0)) == 1.0
    ties = torch.zeros(3)
    assert float(get_loss("hinge")(s_good, ties, 0.5)) == 0.0  # no ordered pairs, no loss (and no NaN)
    assert set(known_losses()) == {"hinge", "ranknet", "l1", "l2"}
    with pytest.raises(ConfigError, match="unknown predictor loss 'mse'"):
        get_loss("mse")


@pytest.mark.parametrize("loss", ["hinge", "ranknet", "l1", "l2"])
def test_fit_learns_a_known_ranking(loss):
    """Target: a fixed linear function of the tokens (a ranking the model can represent)."""
    genomes = SPACE.sample_genomes(600, 2)
    w = np.random.default_rng(3).normal(size=64)
    val_loss = w[tokenize(genomes)].sum(1)
    p = Predictor.create(0.0, 1.0, embed_dim=8, hidden=8, seed=0)
    res = fit_predictor(p, genomes[:300], 0.5, val_loss[:300], loss=loss, epochs=15, lr=1e-2, seed=0)
    assert res.history[-1] < res.history[0]
    m = rank_metrics(p.score(genomes[400:], 0.5), val_loss[400:])
    assert m["kendall"] > 0.4, m  # measured 0.55-0.72 depending on the loss; chance is 0
    again = Predictor.create(0.0, 1.0, embed_dim=8, hidden=8, seed=0)
    fit_predictor(again, genomes[:300], 0.5, val_loss[:300], loss=loss, epochs=15, lr=1e-2, seed=0)
    assert np.array_equal(p.score(genomes[400:], 0.5), again.score(genomes[400:], 0.5))  # deterministic


def test_fit_rejects_bad_scores():
    p = Predictor.create(0.0, 1.0, embed_dim=4, hidden=4)
    g = SPACE.sample_genomes(4, 0)
    with pytest.raises(Exception, match="NaN"):
        fit_predictor(p, g, 0.5, np.array([0.1, np.nan, 0.2, 0.3]), epochs=1)
    with pytest.raises(Exception, match="at least 2"):
        fit_predictor(p, g[:1], 0.5, np.array([0.1]), epochs=1)


def test_save_load_round_trip_and_bad_files(tmp_path):
    p = Predictor.create(10.0, 20.0, embed_dim=4, hidden=8, seed=3, meta={"constraint": "params"})
    path = p.save(tmp_path / "p.pt")
    q = Predictor.load(path)
    g = SPACE.sample_genomes(50, 0)
    assert np.array_equal(p.score(g, 15.0), q.score(g, 15.0)) and q.meta["constraint"] == "params"
    (tmp_path / "junk.pt").write_bytes(b"junk")
    with pytest.raises(ConfigError, match="not a readable predictor"):
        Predictor.load(tmp_path / "junk.pt")
    torch.save({"format": "other"}, tmp_path / "other.pt")
    with pytest.raises(ConfigError, match="not a dcnas predictor"):
        Predictor.load(tmp_path / "other.pt")
    with pytest.raises(ConfigError, match="not found"):
        Predictor.load(tmp_path / "absent.pt")


def test_scored_paths_csv_round_trip_and_truncate(tmp_path):
    f = tmp_path / "scored_paths.csv"
    g = SPACE.sample_genomes(5, 0)
    append_scored(f, 3, "init", "train", np.arange(5.0), np.arange(5.0), np.linspace(0.1, 0.5, 5), g)
    append_scored(f, 9, "fit", ["train", "test"], 7.0, np.array([1.0, 2.0]), np.array([0.3, 0.2]), g[:2])
    rows = read_scored(f)
    assert len(rows) == 7 and np.array_equal(rows.genomes[:5], g) and list(rows.split[-2:]) == ["train", "test"]
    assert rows.tau[-1] == 7.0 and rows.score[1] == pytest.approx(0.2)
    truncate_scored(f, 5)
    assert len(read_scored(f)) == 5
    f.write_text("step,nope\n1,2\n")
    with pytest.raises(ConfigError, match="header"):
        read_scored(f)


def test_rank_metrics_and_scatter(tmp_path):
    loss = np.linspace(0, 1, 50)
    assert rank_metrics(-loss, loss)["kendall"] == pytest.approx(1.0)  # higher score = lower loss
    assert rank_metrics(loss, loss)["spearman"] == pytest.approx(-1.0)
    png = rank_scatter(tmp_path / "r.png", {"good": -loss, "bad": loss}, loss)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_predictor_fit_and_eval_commands_on_a_run(tmp_path):
    from dcnas_deploy.presets import load_preset
    from dcnas_deploy.train.supernet import train_supernet

    preset = load_preset("demo").with_overrides({
        "data.spec": "synthetic:n=8,size=32", "data.batch_size": 4, "data.val_crops": 4, "data.val_batch": 4,
        "training.steps": 6, "training.threads": 1, "sampling.warmup_steps": 6, "predictor.hidden": 8,
        "predictor.embed_dim": 4, "predictor.init_epochs": 5})
    run = tmp_path / "run"
    train_supernet(preset, run, progress=False)
    base = [sys.executable, "-m", "dcnas_deploy.cli.main", "predictor"]
    for loss in ("hinge", "l2"):
        r = subprocess.run(base + ["fit", "--supernet", str(run), "--loss", loss, "--paths", "40"], cwd=REPO,
                           capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr
        assert (run / f"predictor-{loss}.pt").is_file() and "Kendall" in r.stdout
    rows = read_scored(run / "scored_paths.csv")
    assert (rows.source == "fit").sum() == 40  # the second fit reused the paths scored by the first
    r = subprocess.run(base + ["eval", "--supernet", str(run)], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "hinge" in r.stdout and "l2" in r.stdout and (run / "predictor_ranks.png").is_file()
    r = subprocess.run(base + ["fit", "--supernet", str(run), "--loss", "mse"], cwd=REPO, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 2 and "'mse' is not one of 'hinge', 'ranknet', 'l1', 'l2'" in r.stderr


def test_search_takes_a_fitted_predictor_and_refuses_one_of_another_space(tmp_path):
    """`predictor fit` then `search --predictor FILE`: the file picks the population and is recorded in arch.yaml."""
    import yaml
    from typer.testing import CliRunner

    from dcnas_deploy.cli.main import app
    from dcnas_deploy.presets import load_preset
    from dcnas_deploy.train.predictor_runs import fit_on_run
    from dcnas_deploy.train.supernet import train_supernet

    preset = load_preset("demo").with_overrides({
        "data.spec": "synthetic:n=4,size=32", "data.batch_size": 2, "data.val_crops": 2, "data.val_batch": 2,
        "training.steps": 2, "training.threads": 1, "sampling.warmup_steps": 2, "sampling.strategy": "uniform",
        "predictor.hidden": 8, "predictor.embed_dim": 4, "predictor.init_epochs": 2})
    run = tmp_path / "run"
    train_supernet(preset, run, progress=False)
    assert not (run / "predictor.pt").exists()  # uniform sampling: no training-time predictor
    rep = fit_on_run(run, "hinge", paths=16, holdout=0.5, train_limit=5)
    assert rep.train_paths == 5 and rep.path == run / "predictor-hinge.pt"
    args = ["search", "--supernet", str(run), "--params", "0.3M", "--iterations", "1", "--population", "4",
            "--no-verify"]
    runner = CliRunner()
    ok = runner.invoke(app, [*args, "--predictor", str(rep.path), "-o", str(tmp_path / "a.yaml")])
    assert ok.exit_code == 0, ok.output
    record = yaml.safe_load((tmp_path / "a.yaml").read_text())["meta"]["search"]
    assert record["predictor"] == str(rep.path) and record["strategy"] == "evolution+predictor"
    other = Predictor.load(rep.path)
    other.meta["space"] = {**other.meta["space"], "scale": 8}
    other.save(tmp_path / "x8.pt")
    bad = runner.invoke(app, [*args, "--predictor", str(tmp_path / "x8.pt"), "-o", str(tmp_path / "b.yaml")])
    assert bad.exit_code == 2 and "fitted on another search space (differs in scale)" in " ".join(bad.output.split())
    assert not (tmp_path / "b.yaml").exists()
    missing = runner.invoke(app, [*args, "--predictor", str(tmp_path / "none.pt"), "-o", str(tmp_path / "c.yaml")])
    assert missing.exit_code == 2 and "none.pt" in missing.output

    from dcnas_deploy.train.ship_pretrained import ship_supernet

    root = tmp_path / "shipped"
    dest = ship_supernet(run, "sx", {"scale": 4}, root, check_paths=2, predictor=rep.path)
    card = yaml.safe_load((dest / "card.yaml").read_text())
    assert (dest / "predictor.pt").read_bytes() == rep.path.read_bytes()
    assert card["predictor"]["fit_paths"] == 5 and card["predictor"]["loss"] == "hinge"
    assert card["predictor"]["heldout"]["n"] == rep.heldout["n"]
    (tmp_path / "junk.pt").write_bytes(b"not a predictor")
    with pytest.raises(ConfigError):
        ship_supernet(run, "sy", {"scale": 4}, root, check_paths=2, predictor=tmp_path / "junk.pt")
    assert not (root / "sy").exists()
