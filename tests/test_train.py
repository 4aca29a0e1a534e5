"""Supernet training (Alg. 1), fixed-arch training, run directories, resume, DDP, and bad input."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from dcnas_deploy.errors import ConfigError, DcnasError
from dcnas_deploy.presets import Preset, load_preset
from dcnas_deploy.space import Arch, SearchSpace
from dcnas_deploy.train.rundir import RunDir

REPO = Path(__file__).resolve().parents[1]
PY = sys.executable

TINY = {"data.spec": "synthetic:n=8,size=32", "data.batch_size": 4, "data.val_crops": 4, "data.val_batch": 4,
        "training.steps": 12, "training.checkpoint_every": 3, "training.log_every": 1, "training.threads": 1,
        "sampling.warmup_steps": 4, "sampling.refresh_every": 4, "sampling.init_paths": 12,
        "sampling.refresh_paths": 8, "predictor.init_epochs": 5, "predictor.refresh_epochs": 2,
        "predictor.hidden": 8, "predictor.embed_dim": 4, "retrain.steps": 12,
        "training.zero_head": False}  # from a random head, 12 steps show learning; a zero head starts at bicubic


def tiny_preset(**more) -> Preset:
    """demo scaled down to seconds: 32×32 patches of 8 small scenes, 12 steps crossing warm-up and a refresh."""
    return load_preset("demo").with_overrides({**TINY, **more})


def weights_equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.fixture(autouse=True)
def _one_thread(one_thread):
    """Every test here runs with one torch thread (conftest's one_thread)."""


# ---- sampling (eq. 10, 12) ---------------------------------------------------------------------

@pytest.fixture
def sampler():
    from dcnas_deploy.costs import make_cost
    from dcnas_deploy.train.sampling import ConstraintSampler

    space = SearchSpace(width=8, scale=4, hr_size=(64, 64))
    return ConstraintSampler.build(space, make_cost("params", space), sigma=0.05, draw_batch=256, max_draws=8)


def test_accepted_paths_lie_in_the_window_below_tau(sampler):
    rng = np.random.default_rng(0)
    for _ in range(20):
        tau, source = sampler.draw_tau(rng)
        assert sampler.tables.batch(source[None])[0] == tau  # τ = C(α) of a drawn α (eq. 10)
        draw = sampler.sample_under(tau, 20, rng, source)
        assert 1 <= len(draw.genomes) <= 20
        assert np.allclose(draw.costs, sampler.tables.batch(draw.genomes))
        assert np.all(draw.costs <= tau)
        if not draw.fallback:
            assert len(draw.genomes) == 20 and np.all(tau - draw.costs <= sampler.window)
    assert sampler.stats()["draws"] == 20 and 0 < sampler.stats()["accept_rate"] < 1


def test_acceptance_is_bounded_and_falls_back_to_nearest_below(sampler):
    sampler.sigma = 1e-9  # nothing but exact ties is accepted
    sampler.max_draws = 2
    rng = np.random.default_rng(1)
    tau = float(np.median(sampler.tables.batch(sampler.space.sample_genomes(500, 3))))
    draw = sampler.sample_under(tau, 20, rng)
    assert draw.fallback and draw.batches == 2 and sampler.fallbacks == 1
    assert len(draw.genomes) == 20 and np.all(draw.costs <= tau)
    # the fallback takes the drawn paths closest below τ
    gaps = tau - draw.costs
    assert gaps.max() < sampler.hi - sampler.lo
    # the smallest τ still yields its own source path
    cheapest = np.zeros((1, 52), dtype=np.int64)
    cheapest[0, 48:] = 5  # every fusion 'none': just lr_up
    low = sampler.sample_under(float(sampler.tables.batch(cheapest)[0]), 5, rng, cheapest[0])
    assert len(low.genomes) >= 1 and np.all(low.costs <= sampler.tables.batch(cheapest)[0])


def test_sampler_logic_with_a_fake_latency_cost(monkeypatch):
    """FAKE latency table (not a measurement): checks only that the sampler works for a latency:DEVICE cost."""
    from dcnas_deploy import costs
    from dcnas_deploy.lut import table
    from dcnas_deploy.train.sampling import ConstraintSampler

    def fake_latency(device, space, hr_size):
        assert device == "fake-device"
        return space.cost_tables(lambda op: 1e-6 * op.macs + 0.01, hr_size)

    monkeypatch.setattr(table, "latency_cost_tables", fake_latency)
    space = SearchSpace(width=8, scale=4, hr_size=(64, 64))
    s = ConstraintSampler.build(space, costs.make_cost("latency:fake-device", space), sigma=0.05)
    rng = np.random.default_rng(2)
    tau, src = s.draw_tau(rng)
    draw = s.sample_under(tau, 20, rng, src)
    assert np.all(draw.costs <= tau) and (draw.fallback or np.all(tau - draw.costs <= s.window))


# ---- batches and scoring ------------------------------------------------------------------------

def test_training_batches_are_a_function_of_seed_and_step_and_split_across_ranks():
    from dcnas_deploy.train.batches import TrainStream, open_split

    ds = open_split("synthetic:n=8,size=32", "train", "training", cache=8)
    one = TrainStream(ds, 4, 32, 4, "lr", seed=3)
    a, b = one.batch(5, 0), one.batch(5, 0)
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert not torch.equal(one.batch(6, 0).hr, a.hr)
    halves = [TrainStream(ds, 4, 32, 4, "lr", seed=3, rank=r, world=2).batch(5, 0) for r in (0, 1)]
    assert all(torch.equal(torch.cat([h[i] for h in halves]), a[i]) for i in range(4))
    assert a.lr.shape == (4, 1, 8, 8) and a.guide.shape == (4, 3, 32, 32) and a.hr.shape == (4, 1, 32, 32)
    lo = a.lr.flatten(1)
    assert torch.allclose(lo.min(1).values, torch.zeros(4)) and torch.allclose(lo.max(1).values, torch.ones(4))
    with pytest.raises(ConfigError, match="divisible"):
        TrainStream(ds, 3, 32, 4, "lr", world=2)


def test_holes_are_masked_out_of_losses():
    from dcnas_deploy.data.sample import Triple
    from dcnas_deploy.train.batches import normalise_triples
    from dcnas_deploy.train.evaluate import masked_l1

    rng = np.random.default_rng(0)
    hr = rng.uniform(1, 2, (8, 8)).astype(np.float32)
    hr[:2] = 0  # a hole band
    lr = rng.uniform(1, 2, (2, 2)).astype(np.float32)
    lr[0, 0] = 0
    b = normalise_triples([Triple("t", lr, rng.random((8, 8, 3)).astype(np.float32), hr, 4)], "lr")
    assert b.mask[0, 0, :2].sum() == 0 and b.mask[0, 0, 2:].all()
    assert torch.isfinite(b.lr).all() and b.lr.min() >= 0  # the LR hole was filled before normalising
    pred = b.hr.clone()
    pred[:, :, :2] = 100.0  # garbage where the ground truth is a hole costs nothing
    assert masked_l1(pred, b.hr, b.mask) == 0


def test_evaluate_paths_matches_a_direct_computation():
    from dcnas_deploy.model import Supernet
    from dcnas_deploy.train.evaluate import evaluate_paths
    from dcnas_deploy.train.trainer import validation_set

    p = tiny_preset()
    torch.manual_seed(0)
    net = Supernet(p.make_space())
    val = validation_set(p)
    genomes = p.make_space().sample_genomes(3, 0)
    scores = evaluate_paths(net, genomes, val, "l1")
    arch = Arch(genomes[1])
    with torch.no_grad():
        direct = np.mean([float(((net(b.lr, b.guide, arch=arch) - b.hr).abs() * b.mask).sum((1, 2, 3))[i]
                                / b.mask[i].sum()) for b in val for i in range(len(b))])
    assert scores.shape == (3,) and scores[1] == pytest.approx(direct, rel=1e-5)
    assert np.array_equal(scores, evaluate_paths(net, [Arch(g) for g in genomes], val, "l1"))
    assert np.all(evaluate_paths(net, genomes, val, "rmse") >= scores - 1e-9)  # RMSE ≥ MAE per crop


# ---- supernet runs ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def supernet_run(tmp_path_factory):
    from dcnas_deploy.train.supernet import train_supernet

    out = tmp_path_factory.mktemp("runs") / "sn"
    result = train_supernet(tiny_preset(), out, progress=False)
    return out, result


def test_tiny_supernet_run_lowers_validation_l1_and_writes_its_files(supernet_run):
    out, result = supernet_run
    assert result["steps"] == 12
    assert result["val_end"]["val"] < 0.9 * result["val_start"]["val"]
    for name in ("preset.yaml", "checkpoint.pt", "log.csv", "predictor.pt", "scored_paths.csv"):
        assert (out / name).is_file(), name
    assert list(out.glob("events.out.tfevents.*"))
    rows = RunDir(out).read_preset() and __import__("csv").DictReader(open(out / "log.csv"))
    rows = list(rows)
    assert [r["phase"] for r in rows if r["step"] in ("4", "5")] == ["warmup", "guided"]
    assert any(r["pred_kendall"] for r in rows)  # a refresh at step 8 measured the predictor first
    from dcnas_deploy.predictor.scored import read_scored

    scored = read_scored(out / "scored_paths.csv")
    assert list(np.unique(scored.source)) == ["init", "refresh"] and len(scored) == 12 + 8
    refresh = scored.where(scored.source == "refresh")
    assert np.all(refresh.cost <= refresh.tau)


def test_largest_steps_train_the_full_network_first(tmp_path):
    """sampling.largest_steps: the first steps train every slot as k7e6 with two-input fusions (drawn per level),
    logged as phase 'largest', then the warm-up's uniform paths."""
    import csv

    from dcnas_deploy.space.genes import BLOCK_NAMES, FUSIONS, N_BLOCK_GENES
    from dcnas_deploy.train.supernet import TWO_INPUT_FUSIONS, SupernetTrainer, largest_path, train_supernet

    rng = np.random.default_rng(0)
    paths = np.stack([largest_path(rng) for _ in range(30)])
    assert np.all(paths[:, :N_BLOCK_GENES] == BLOCK_NAMES.index("k7e6"))
    fusions = {FUSIONS[i] for i in paths[:, N_BLOCK_GENES:].ravel()}
    assert fusions == set(TWO_INPUT_FUSIONS)
    space = SearchSpace(width=8, scale=4, hr_size=(64, 64))
    assert space.params(Arch(paths[0])) > space.params(Arch(space.sample_genomes(1, rng)[0]))

    p = tiny_preset(**{"sampling.largest_steps": 2, "training.steps": 4, "training.checkpoint_every": 4})
    trainer = SupernetTrainer(p, tmp_path / "sn", progress=False)
    assert [trainer.phase(s) for s in range(5)] == ["largest", "largest", "warmup", "warmup", "guided"]
    chosen = trainer.choose_paths(0)
    assert np.all(chosen[:, :N_BLOCK_GENES] == BLOCK_NAMES.index("k7e6"))
    train_supernet(p, tmp_path / "run", progress=False)
    with open(tmp_path / "run" / "log.csv", newline="") as f:
        phases = [r["phase"] for r in csv.DictReader(f) if r["phase"]]  # the step-0 row holds validation only
    assert phases[:2] == ["largest", "largest"] and phases[2:] == ["warmup", "warmup"]


def test_hand_steps_train_the_hand_design_first_and_exclude_largest_steps(tmp_path):
    from dcnas_deploy.train.supernet import HAND_DESIGN, SupernetTrainer

    p = tiny_preset(**{"sampling.hand_steps": 3, "training.steps": 4, "training.checkpoint_every": 4})
    trainer = SupernetTrainer(p, tmp_path / "sn", progress=False)
    assert [trainer.phase(s) for s in range(5)] == ["hand", "hand", "hand", "warmup", "guided"]
    assert all(np.array_equal(trainer.choose_paths(s)[0], HAND_DESIGN.array()) for s in range(3))
    assert not np.array_equal(trainer.choose_paths(3)[0], HAND_DESIGN.array())
    with pytest.raises(ConfigError, match="sampling.hand_steps: 3 and sampling.largest_steps \\(2\\) both set"):
        tiny_preset(**{"sampling.hand_steps": 3, "sampling.largest_steps": 2})


def test_zero_head_makes_every_path_start_as_bicubic():
    from dcnas_deploy.model import Supernet
    from dcnas_deploy.train.trainer import validation_set, zero_head

    p = tiny_preset()
    net = zero_head(Supernet(p.make_space()))
    b = validation_set(p)[0]
    with torch.no_grad():
        for g in p.make_space().sample_genomes(3, 1):
            assert torch.equal(net(b.lr, b.guide, arch=Arch(g)), net.lr_up(b.lr))


def test_head_init_scale_starts_near_bicubic_off_the_saddle():
    """training.head_init_scale: the default init scaled down, so paths start within a hair of bicubic, not on it."""
    from dcnas_deploy.model import Supernet
    from dcnas_deploy.train.supernet import SupernetTrainer
    from dcnas_deploy.train.trainer import validation_set, zero_head

    p = tiny_preset()
    torch.manual_seed(0)
    full = Supernet(p.make_space())
    torch.manual_seed(0)
    small = zero_head(Supernet(p.make_space()), True, 0.1)
    assert torch.allclose(small.head.weight, 0.1 * full.head.weight) and small.head.weight.abs().sum() > 0
    b = validation_set(p)[0]
    g = Arch(p.make_space().sample_genomes(1, 3)[0])
    with torch.no_grad():
        up = small.lr_up(b.lr)
        off_small = (small(b.lr, b.guide, arch=g) - up).abs().mean()
        off_full = (full(b.lr, b.guide, arch=g) - up).abs().mean()
    assert 0 < off_small < 0.2 * off_full
    assert p.training.head_init_scale == 0.0  # default: exactly zero
    scaled = p.with_overrides({"training.head_init_scale": 0.05})
    net = SupernetTrainer.build_model(type("T", (), {"preset": scaled, "space": scaled.make_space(), "resuming": False})())
    assert net.head.weight.abs().max() > 0
    with pytest.raises(Exception, match="head_init_scale"):
        p.with_overrides({"training.head_init_scale": 2.0})


def test_init_supernet_starts_from_another_scales_weights_and_refuses_another_width(supernet_run):
    """training.init_supernet: a x8 supernet starts from a trained x4 one (or a shipped name); width must match."""
    from dcnas_deploy.train.supernet import SupernetTrainer, load_supernet

    out, _ = supernet_run
    donor, _ = load_supernet(out)

    def build(**over):
        p = tiny_preset(**over)
        return SupernetTrainer.build_model(type("T", (), {"preset": p, "space": p.make_space(), "resuming": False})())

    x8 = build(**{"space.scale": 8, "training.init_supernet": str(out)})
    assert x8.space.scale == 8 and weights_equal(x8.state_dict(), donor.state_dict())
    assert not weights_equal(build(**{"space.scale": 8}).state_dict(), donor.state_dict())  # without it: fresh
    shipped = build(**{"space.scale": 8, "training.init_supernet": "supernet-x4"})
    assert not weights_equal(shipped.state_dict(), donor.state_dict()) and shipped.head.weight.abs().sum() > 0
    with pytest.raises(ConfigError, match="does not fit this space .* same width and channels"):
        build(**{"space.width": 16, "training.init_supernet": str(out)})


def test_load_supernet_gives_the_trained_weights(supernet_run):
    from dcnas_deploy.predictor import Predictor
    from dcnas_deploy.train.supernet import load_supernet

    out, _ = supernet_run
    net, preset = load_supernet(out)
    assert not net.training and preset.training.steps == 12
    assert weights_equal(net.state_dict(), RunDir(out).load_checkpoint()["model"])
    scores = Predictor.load(out / "predictor.pt").score(preset.make_space().sample_genomes(1500, 0), 1e5)
    assert scores.shape == (1500,) and np.isfinite(scores).all()


def test_interrupted_and_resumed_run_equals_an_uninterrupted_one(supernet_run, tmp_path):
    from dcnas_deploy.train.supernet import train_supernet

    class Killed(Exception):
        pass

    def kill_at_7(done):
        if done == 7:
            raise Killed

    out = tmp_path / "b"
    with pytest.raises(Killed):
        train_supernet(tiny_preset(), out, progress=False, on_step=kill_at_7)
    assert RunDir(out).load_checkpoint()["step"] == 6  # the last checkpoint before the "kill"
    train_supernet(tiny_preset(), out, resume=True, progress=False)
    a, b = RunDir(supernet_run[0]).load_checkpoint(), RunDir(out).load_checkpoint()
    assert weights_equal(a["model"], b["model"])
    assert weights_equal(a["predictor"]["weights"], b["predictor"]["weights"])
    assert a["optimizer"]["state"].keys() == b["optimizer"]["state"].keys()
    strip = lambda p: [line.rsplit(",", 1)[0] for line in p.read_text().splitlines()]  # drop elapsed_s
    assert strip(supernet_run[0] / "log.csv") == strip(out / "log.csv")
    assert (supernet_run[0] / "scored_paths.csv").read_text() == (out / "scored_paths.csv").read_text()


def test_sigkill_and_cli_resume_end_with_the_same_weights(supernet_run, tmp_path):
    """A real kill -9 of the CLI at an arbitrary moment, then `--resume`."""
    preset_file = tmp_path / "tiny.yaml"
    preset_file.write_text(tiny_preset().to_yaml())
    out = tmp_path / "killed"
    cmd = [PY, "-m", "dcnas_deploy.cli.main", "train-supernet", "--preset", str(preset_file), "--out", str(out),
           "--no-progress"]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and not (out / "checkpoint.pt").exists() and proc.poll() is None:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    r = subprocess.run(cmd + ["--resume"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert weights_equal(RunDir(supernet_run[0]).load_checkpoint()["model"], RunDir(out).load_checkpoint()["model"])


def test_two_process_gloo_run_matches_one_process(supernet_run, tmp_path):
    """DistributedDataParallel (the default): paths off this step's path keep grad None, as in one process."""
    from dcnas_deploy.train.supernet import train_supernet

    t0 = time.perf_counter()
    train_supernet(tiny_preset(), tmp_path / "ddp", nproc=2, progress=False)
    assert time.perf_counter() - t0 < 60
    a, b = RunDir(supernet_run[0]).load_checkpoint(), RunDir(tmp_path / "ddp").load_checkpoint()
    assert b["world"] == 2
    assert max_weight_difference(a, b) <= summation_order_tolerance(tiny_preset())


def summation_order_tolerance(preset) -> float:
    """1 % of the most any weight can move in the run (Adam moves a weight ≲ lr per step).

    Same global batch split over 2 ranks: the gradients differ only in float summation order, which
    varies with the CPU's vector width (measured 4.9e-7 with AVX-512, 1.84e-5 with AVX2 only), and Adam
    divides by √v, so weights whose gradients are near zero can amplify that. A real DDP mistake (a rank
    on other data, a gradient not synchronised) moves weights by a sizeable part of lr·steps.
    """
    return 0.01 * preset.training.lr * preset.training.steps


def max_weight_difference(a: dict, b: dict) -> float:
    """Largest absolute difference between two checkpoints' model weights."""
    return max(float((a["model"][k] - b["model"][k]).abs().max()) for k in a["model"])


@pytest.mark.slow
def test_flat_allreduce_mode_matches_one_process(supernet_run, tmp_path):
    from dcnas_deploy.train.supernet import train_supernet

    train_supernet(tiny_preset(**{"training.ddp": "allreduce"}), tmp_path / "ddp", nproc=2, progress=False)
    a, b = RunDir(supernet_run[0]).load_checkpoint(), RunDir(tmp_path / "ddp").load_checkpoint()
    assert max_weight_difference(a, b) <= summation_order_tolerance(tiny_preset())


def test_uniform_strategy_never_fits_a_predictor(tmp_path):
    from dcnas_deploy.train.supernet import train_supernet

    train_supernet(tiny_preset(**{"sampling.strategy": "uniform", "training.steps": 5}), tmp_path / "u",
                   progress=False)
    assert not (tmp_path / "u" / "predictor.pt").exists()
    assert RunDir(tmp_path / "u").load_checkpoint()["predictor"] is None


# ---- bad input ---------------------------------------------------------------------------------

@pytest.mark.parametrize("spec, match", [("nosuch:abc", "unknown dataset spec"),
                                         ("nyu:/does/not/exist", "not found"),
                                         ("synthetic:n=oops", "synthetic option")])
def test_dataset_spec_that_does_not_resolve_fails_before_writing(tmp_path, spec, match):
    from dcnas_deploy.train.supernet import train_supernet

    with pytest.raises(DcnasError, match=match):
        train_supernet(tiny_preset(**{"data.spec": spec}), tmp_path / "r", progress=False)
    assert not (tmp_path / "r").exists()


def test_dataset_without_the_training_split_is_named(tmp_path, middlebury_dir):
    from dcnas_deploy.train.supernet import train_supernet

    with pytest.raises(ConfigError, match="training data .*split 'train'"):
        train_supernet(tiny_preset(**{"data.spec": f"middlebury:{middlebury_dir}"}), tmp_path / "r", progress=False)


def test_resume_refuses_a_different_preset_and_other_mistakes(supernet_run, tmp_path):
    from dcnas_deploy.train.supernet import train_supernet

    out, _ = supernet_run
    with pytest.raises(ConfigError, match=r"different preset.*training\.lr.*sampling\.m"):
        train_supernet(tiny_preset(**{"training.lr": 0.5, "sampling.m": 5}), out, resume=True, progress=False)
    with pytest.raises(ConfigError, match="already holds a run.*--resume"):
        train_supernet(tiny_preset(), out, progress=False)
    with pytest.raises(ConfigError, match="nothing to resume"):
        train_supernet(tiny_preset(), tmp_path / "empty", resume=True, progress=False)
    # extending a finished run is the one allowed change (the first new step runs, then we stop)
    class Stop(Exception):
        pass

    def stop(done):
        raise Stop

    with pytest.raises(Stop):
        train_supernet(tiny_preset(**{"training.steps": 13}), out, resume=True, progress=False, on_step=stop)


def test_corrupt_checkpoint_is_a_clear_error(tmp_path):
    from dcnas_deploy.train.supernet import load_supernet

    (tmp_path / "checkpoint.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ConfigError, match="not a readable checkpoint"):
        load_supernet(tmp_path)


def test_cli_reports_bad_preset_and_bad_data_with_exit_2(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("training: {lr: -1}\n")
    r = subprocess.run([PY, "-m", "dcnas_deploy.cli.main", "train-supernet", "--preset", str(bad), "--out",
                        str(tmp_path / "r")], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "training.lr" in r.stderr and "Traceback" not in r.stderr
    r = subprocess.run([PY, "-m", "dcnas_deploy.cli.main", "train-supernet", "--preset", "demo", "--data",
                        "nosuch:x", "--out", str(tmp_path / "r")], cwd=REPO, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 2 and "unknown dataset spec" in r.stderr
    r = subprocess.run([PY, "-m", "dcnas_deploy.cli.main", "train-supernet", "--preset", "demo", "--profile", "demo",
                        "--out", str(tmp_path / "r")], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "give --preset only: --profile is its deprecated old name" in r.stderr


# ---- fixed-architecture training ----------------------------------------------------------------

def test_train_arch_from_scratch_saves_a_deployable_model(tmp_path):
    from dcnas_deploy.model.checkpoint import load_model
    from dcnas_deploy.train.retrain import train_arch

    arch = SearchSpace().sample(4)
    result = train_arch(arch, tiny_preset(), tmp_path / "a", progress=False)
    assert result["val_end"]["val_l1"] < result["val_start"]["val_l1"]
    model, meta = load_model(result["model"])
    assert model.arch == arch
    assert meta["norm"] == "lr" and meta["scale"] == 4 and meta["data"] == "synthetic:n=8,size=32"
    assert meta["steps"] == 12 and meta["init"] == "scratch" and meta["val_l1"] == result["val_end"]["val_l1"]
    with pytest.raises(ConfigError, match="not the given one"):
        train_arch(SearchSpace().sample(5), tiny_preset(), tmp_path / "a", resume=True, progress=False)


def test_train_arch_from_supernet_starts_at_the_supernet_path_score(supernet_run, tmp_path):
    from dcnas_deploy.train.evaluate import evaluate_paths
    from dcnas_deploy.train.retrain import train_arch
    from dcnas_deploy.train.supernet import load_supernet
    from dcnas_deploy.train.trainer import validation_set

    out, _ = supernet_run
    net, preset = load_supernet(out)
    arch = Arch(preset.make_space().sample_genomes(1, 11)[0])
    expected = evaluate_paths(net, [arch], validation_set(preset))[0]
    result = train_arch(arch, preset.with_overrides({"retrain.steps": 3}), tmp_path / "ft", init="supernet",
                        supernet=out, progress=False)
    assert result["val_start"]["val_l1"] == pytest.approx(expected, rel=1e-5)
    with pytest.raises(ConfigError, match="--supernet"):
        train_arch(arch, preset, tmp_path / "x", init="supernet", progress=False)


def test_cli_train_command_and_the_deprecated_profile_alias(tmp_path):
    """`--profile` (the old name of --preset) still works for one release, with a warning."""
    preset_file = tmp_path / "tiny.yaml"
    preset_file.write_text(tiny_preset(**{"retrain.steps": 3}).to_yaml())
    arch_file = tmp_path / "arch.yaml"
    SearchSpace().sample(2).to_yaml(arch_file)
    r = subprocess.run([PY, "-m", "dcnas_deploy.cli.main", "train", "--arch", str(arch_file), "--profile",
                        str(preset_file), "--out", str(tmp_path / "t"), "--no-progress"], cwd=REPO,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "t" / "model.pt").is_file() and "val_l1" in r.stdout
    assert "warning: --profile is deprecated for training presets" in " ".join(r.stderr.split())
    assert f"use --preset {preset_file}" in r.stderr.replace("\n", "")


def test_train_arch_resume_equals_uninterrupted(tmp_path):
    from dcnas_deploy.train.retrain import train_arch

    arch, preset = SearchSpace().sample(6), tiny_preset(**{"retrain.steps": 6})
    train_arch(arch, preset, tmp_path / "a", progress=False)

    def kill_at_4(done):
        if done == 4:
            raise RuntimeError("killed")

    with pytest.raises(RuntimeError, match="killed"):
        train_arch(arch, preset, tmp_path / "b", progress=False, on_step=kill_at_4)
    train_arch(arch, preset, tmp_path / "b", resume=True, progress=False)
    assert weights_equal(RunDir(tmp_path / "a").load_checkpoint()["model"],
                         RunDir(tmp_path / "b").load_checkpoint()["model"])


def test_epochs_are_converted_with_the_training_split_size(tmp_path):
    from dcnas_deploy.cli.train_cmds import _resolve_preset

    f = tmp_path / "tiny.yaml"
    f.write_text(tiny_preset().to_yaml())
    # synthetic:n=8 has 8 training scenes; batch 4 → 2 steps per epoch
    p = _resolve_preset(str(f), tmp_path / "r", False, {"training.steps": None}, 3, "training.steps")
    assert p.training.steps == 6
    with pytest.raises(ConfigError, match="not both"):
        _resolve_preset(str(f), tmp_path / "r", False, {"training.steps": 5}, 3, "training.steps")


def test_train_arch_refuses_mismatched_space_and_supernet(supernet_run, tmp_path):
    from dcnas_deploy.train.retrain import train_arch

    arch = Arch(SearchSpace().sample(1).genes, meta={"space": SearchSpace(width=16).to_dict()})
    with pytest.raises(ConfigError, match="searched in space"):
        train_arch(arch, tiny_preset(), tmp_path / "x", progress=False)
    with pytest.raises(ConfigError, match="supernet .* has space"):
        train_arch(SearchSpace().sample(1), load_preset("tiny-x8"), tmp_path / "y", init="supernet",
                   supernet=supernet_run[0], progress=False)
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()


def test_an_arch_searched_at_a_deployment_size_trains_with_its_preset(tmp_path):
    """`search --hr 256x256` costs a network at the deployment size; its weights are the preset's geometry's."""
    from dcnas_deploy.train.retrain import check_inputs

    preset = tiny_preset()
    deploy = preset.make_space().to_dict() | {"hr_size": [256, 256]}
    check_inputs(Arch(preset.make_space().sample(1).genes, meta={"space": deploy}), preset, "scratch", None)
    other = deploy | {"width": preset.make_space().width * 2}
    with pytest.raises(ConfigError, match="searched in space"):
        check_inputs(Arch(preset.make_space().sample(1).genes, meta={"space": other}), preset, "scratch", None)


def test_no_preset_on_a_cpu_warns_and_reports_the_step_cost(monkeypatch):
    """Without --preset, train/train-supernet run the GPU preset: say so, then say what a step costs here."""
    from dcnas_deploy.cli import train_cmds
    from dcnas_deploy.cli.common import console

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    gpu = load_preset(train_cmds.DEFAULT_PRESET)
    assert train_cmds._cpu_cost_watch(gpu, "tiny-x8", False, 100) is None      # chosen on purpose: no warning
    assert train_cmds._cpu_cost_watch(load_preset("demo"), None, False, 100) is None
    assert train_cmds._cpu_cost_watch(gpu, None, True, 100) is None             # resuming a run: its own choice
    with console.capture() as cap:
        watch = train_cmds._cpu_cost_watch(gpu, None, False, 100)
        watch(1)
        time.sleep(0.05)
        watch(2)
        watch(3)
    text = " ".join(cap.get().split())
    assert "no --preset given, so this runs tiny-x8, the paper's GPU preset" in text
    assert "--preset demo" in text and "--preset cpu-x8" in text
    assert text.count("one step took") == 1 and "the 98 steps left would take about" in text


def test_bf16_autocast_trains_on_cpu_and_fp16_needs_cuda(tmp_path):
    import torch

    from dcnas_deploy.train.retrain import train_arch

    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="fp16 needs a CUDA device"):
            train_arch(SearchSpace().sample(4), tiny_preset(**{"training.amp": "fp16"}), tmp_path / "h",
                       progress=False)
    arch = SearchSpace().sample(4)
    res = train_arch(arch, tiny_preset(**{"training.amp": "bf16"}), tmp_path / "b", progress=False)
    ref = train_arch(arch, tiny_preset(), tmp_path / "f", progress=False)
    assert res["val_end"]["val_l1"] < res["val_start"]["val_l1"]  # it learns
    # same batches, same start: bf16 forward rounding moves the result a little, not a lot
    assert abs(res["val_end"]["val_l1"] - ref["val_end"]["val_l1"]) < 0.25 * ref["val_end"]["val_l1"]
