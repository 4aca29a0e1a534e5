"""Shipped pretrained models and supernets (issue 19 items 4-5): usable by name, written from runs, honest cards."""
from __future__ import annotations

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from dcnas_deploy import pretrained
from dcnas_deploy.cli.main import app
from dcnas_deploy.errors import ConfigError
from dcnas_deploy.model.checkpoint import save_model
from dcnas_deploy.model.subnet import SubNet
from dcnas_deploy.train.ship_pretrained import ship_model
from dcnas_deploy.space import SearchSpace
from dcnas_deploy.upsamplers import create_upsampler


@pytest.fixture
def shipped_tiny(tmp_path, monkeypatch, model_card):
    """A width-4 ×4 model with random weights shipped as 'tiny-x4' into an empty shipped folder."""
    import torch

    torch.manual_seed(0)
    space = SearchSpace(width=4, scale=4, hr_size=(32, 32))
    net = SubNet(space, space.sample(3))
    with torch.no_grad():
        for p in net.parameters():
            p.mul_(0.5)
    src = save_model(tmp_path / "run" / "model.pt", net, {"norm": "lr", "scale": 4})
    root = tmp_path / "shipped"
    ship_model(src, "tiny-x4", model_card(4), root)
    monkeypatch.setattr(pretrained, "PRETRAINED_DIR", root)
    return src, root


def test_a_shipped_model_is_used_by_name_like_its_file(shipped_tiny):
    src, root = shipped_tiny
    card = yaml.safe_load((root / "tiny-x4" / "card.yaml").read_text())
    assert card["kind"] == "model" and card["weights"]["stored"] in ("fp16", "fp32")
    assert card["weights"]["fp16_max_abs_change"] >= 0 and card["metrics"]["middlebury"]["ours"] == {"rmse": 1.0}
    assert pretrained.available_pretrained("model") == {"tiny-x4": card}
    rng = np.random.default_rng(0)
    lr = rng.uniform(1, 3, (8, 8)).astype(np.float32)
    guide = rng.uniform(0, 1, (32, 32, 3)).astype(np.float32)
    by_name, by_file = create_upsampler("tiny-x4", 4), create_upsampler(str(src), 4)
    assert by_name.name == "tiny-x4"
    a, b = by_name(lr, guide), by_file(lr, guide)
    span = float(lr.max() - lr.min())
    assert np.abs(a - b).max() <= 2 * card["weights"]["fp16_max_abs_change"] * span + 1e-5
    if card["weights"]["stored"] == "fp16":
        assert (root / "tiny-x4" / "model.pt").stat().st_size < 0.75 * src.stat().st_size
    with pytest.raises(ConfigError, match="trained for ×4"):
        create_upsampler("tiny-x4", 8)
    with pytest.raises(ConfigError, match="shipped models: tiny-x4"):
        create_upsampler("tiny-x5", 4)


def test_cli_takes_shipped_names(shipped_tiny, tmp_path):
    res = CliRunner().invoke(app, ["evaluate", "-m", "tiny-x4", "-m", "bicubic", "-d", "synthetic:n=2,size=32",
                                   "--scale", "4"])
    assert res.exit_code == 0, res.output
    assert "tiny-x4" in res.output
    res = CliRunner().invoke(app, ["export", "--model", "tiny-x5", "--target", "onnx"])
    assert res.exit_code == 2 and "not found" in res.output


def test_train_takes_a_shipped_supernet_by_name(tmp_path, monkeypatch):
    """`train --init supernet --supernet supernet-x8` starts from the shipped folder, as `search --supernet` does."""
    import dcnas_deploy.train.retrain as retrain

    seen = {}

    def fake_train_arch(arch, preset, out, **kw):
        seen.update(kw, preset=preset.name)

    monkeypatch.setattr(retrain, "train_arch", fake_train_arch)
    arch = tmp_path / "arch.yaml"
    SearchSpace(width=8, scale=8, hr_size=(256, 256)).sample(0).to_yaml(arch)
    res = CliRunner().invoke(app, ["train", "-a", str(arch), "-o", str(tmp_path / "run"), "--init", "supernet",
                                   "--supernet", "supernet-x8", "--steps", "1", "--no-progress"])
    assert res.exit_code == 0, res.output
    assert seen["supernet"] == pretrained.PRETRAINED_DIR / "supernet-x8" and "the shipped supernet" in res.output


def test_shipped_supernet_is_the_default_only_when_marked(tmp_path, monkeypatch):
    root = tmp_path / "shipped"
    for name, card in (("a", {"kind": "supernet", "scale": 8}), ("b", {"kind": "supernet", "scale": 8, "default": True}),
                       ("c", {"kind": "model", "scale": 8})):
        (root / name).mkdir(parents=True)
        (root / name / "card.yaml").write_text(yaml.safe_dump(card))
    monkeypatch.setattr(pretrained, "PRETRAINED_DIR", root)
    assert pretrained.default_supernet() == root / "b" and pretrained.default_supernet(8) == root / "b"
    assert pretrained.default_supernet(4) is None
    assert not pretrained.is_pretrained_model("a") and pretrained.is_pretrained_model("c")
    assert not pretrained.is_pretrained_model("x/c")


def test_demo_starts_from_the_shipped_supernet_of_its_space(tmp_path, monkeypatch):
    from dcnas_deploy.demo.run import _given_supernet, _supernet_source
    from dcnas_deploy.presets import load_preset
    from dcnas_deploy.train.rundir import RunDir

    preset = load_preset("demo")
    root = tmp_path / "shipped"
    (root / "sx4").mkdir(parents=True)
    card = {"kind": "supernet", "name": "sx4", "scale": 4, "space": preset.to_dict()["space"], "step": 7,
            "val": {"metric": "l1", "start": 0.5, "end": 0.1}, "made_by": "python bench/train_pretrained.py ..."}
    (root / "sx4" / "card.yaml").write_text(yaml.safe_dump(card))
    monkeypatch.setattr(pretrained, "PRETRAINED_DIR", root)
    assert _supernet_source(preset, "auto") == root / "sx4"
    assert _supernet_source(preset, "train") is None
    other = preset.with_overrides({"space.width": 4})
    assert _supernet_source(other, "auto") is None  # no shipped supernet of that space: the demo trains one
    with pytest.raises(ConfigError, match="no checkpoint.pt"):
        _supernet_source(preset, str(tmp_path / "nothing"))
    RunDir(root / "sx4").save_checkpoint({"kind": "supernet", "step": 7})
    rec = _given_supernet(root / "sx4")
    assert rec["given"] == "sx4" and rec["steps"] == 7 and rec["val_end"] == 0.1 and rec["seconds"] == 0.0


SHIPPED = pretrained.available_pretrained()


@pytest.mark.parametrize("name", sorted(n for n, c in SHIPPED.items() if c["kind"] == "model"))
def test_each_shipped_model_is_tiny_class_and_beats_bicubic_on_real_pairs(name, middlebury_dir):
    from dcnas_deploy.data.evaluation import evaluate
    from dcnas_deploy.data.registry import open_dataset
    from dcnas_deploy.model.checkpoint import load_model

    card = SHIPPED[name]
    path = pretrained.pretrained_model(name)
    model, meta = load_model(path)
    assert model.space.scale == card["scale"] == meta["scale"]
    assert model.space.params(model.arch) == card["params"]
    if "params" in card["budget"]:  # a Tiny-class model searched under a parameter budget
        assert card["params"] <= 600_000
    assert path.stat().st_size < 4e6
    mb = card["metrics"]["middlebury"]
    assert mb["images"] == 30 and mb["ours"]["rmse"] < mb["bicubic"]["rmse"]  # what the card says, over 30 pairs
    ds = open_dataset(f"middlebury:{middlebury_dir}", limit=6)
    ours = evaluate(create_upsampler(name, card["scale"]), ds, card["scale"]).mean()["rmse"]
    bicubic = evaluate(create_upsampler("bicubic", card["scale"]), ds, card["scale"]).mean()["rmse"]
    assert ours < bicubic  # and what it does here, on the first six


@pytest.mark.parametrize("name", sorted(n for n, c in SHIPPED.items() if c["kind"] == "supernet"))
def test_each_shipped_supernet_loads_in_the_space_its_card_names(name):
    from dcnas_deploy.train.supernet import load_supernet

    card = SHIPPED[name]
    net, preset = load_supernet(pretrained.PRETRAINED_DIR / name)
    assert preset.to_dict()["space"] == card["space"] and net.space.scale == card["scale"]
    assert (pretrained.PRETRAINED_DIR / name / "checkpoint.pt").stat().st_size < 8e6
    assert card["weights"]["val_rmse_max_rel_change"] < 0.01  # fp16 storage does not move the fitness


def test_the_default_supernet_is_the_x8_one_when_shipped():
    default = pretrained.default_supernet()
    assert default is None or SHIPPED[default.name]["scale"] == 8


def test_incomplete_cards_are_refused_naming_the_field(shipped_tiny, tmp_path):
    src, root = shipped_tiny
    card_path = root / "tiny-x4" / "card.yaml"
    card = yaml.safe_load(card_path.read_text())
    del card["speed"]["fps"]
    card_path.write_text(yaml.safe_dump(card))
    with pytest.raises(ConfigError, match="has no 'speed.fps'"):
        pretrained.pretrained_model("tiny-x4")
    with pytest.raises(ConfigError, match="speed.fps"):
        create_upsampler("tiny-x4", 4)
    res = CliRunner().invoke(app, ["models"])
    assert res.exit_code == 2 and "card has no 'speed.fps'" in res.output and "1 shipped card(s) incomplete" in res.output
    del card["budget"]
    card_path.write_text(yaml.safe_dump(card))
    assert pretrained.missing_card_field(card) == "budget"


def test_models_lists_each_shipped_model_with_its_speed(shipped_tiny):
    res = CliRunner().invoke(app, ["models"])
    assert res.exit_code == 0, res.output
    assert "tiny-x4" in res.output and "1000.0" in res.output and "test-host" in res.output
    res = CliRunner().invoke(app, ["models", "--json"])
    assert res.exit_code == 0 and '"tiny-x4"' in res.output


def test_a_model_timed_off_its_device_says_where_its_fps_came_from(shipped_tiny):
    _, root = shipped_tiny
    said = pretrained.speed_note(root / "tiny-x4" / "model.pt", "cpu-openvino")
    assert said is not None and "made for cpu" in said and "not on cpu-openvino" in said
    assert "measured elsewhere" not in pretrained.speed_note(root / "tiny-x4" / "model.pt", "cpu")


@pytest.mark.parametrize("name", sorted(n for n, c in SHIPPED.items() if c["kind"] == "model"))
def test_each_shipped_card_states_its_speed_where_and_when(name):
    from dcnas_deploy.costs import parse_latency
    from dcnas_deploy.runtimes.devices import load_device

    card = SHIPPED[name]
    assert pretrained.missing_card_field(card) is None
    sp = card["speed"]
    profile = load_device(sp["device"])
    assert sp["runtime"].split()[0] == profile.runtime and sp["threads"] == profile.threads
    assert sp["p10_ms"] <= sp["median_ms"] <= sp["p90_ms"] and abs(sp["fps"] - 1000 / sp["median_ms"]) < 0.1
    assert len(sp["host"]) > 8 and sp["date"][:4] >= "2026"
    if "latency" in card["budget"]:  # made for a device: measured there, within its budget, at the deploy size
        assert card["budget"]["device"] == sp["device"]
        if "hr" in card["budget"]:  # searched at a deployment size: timed at it
            assert "x".join(str(v) for v in sp["hr"]) == card["budget"]["hr"]
        assert sp["median_ms"] <= parse_latency(card["budget"]["latency"])
        assert card["training"]["closed_loop"][sp["device"]]["decided_ms"] <= parse_latency(card["budget"]["latency"])


@pytest.mark.parametrize("name", sorted(n for n, c in SHIPPED.items() if c["kind"] == "model"))
def test_each_shipped_model_exports_by_name(name, tmp_path):
    res = CliRunner().invoke(app, ["export", "--model", name, "--target", "onnx", "--hr", "64x64", "--no-latency",
                                   "-o", str(tmp_path / "x")])
    assert res.exit_code == 0, res.output
    assert list((tmp_path / "x").glob("*.onnx"))
