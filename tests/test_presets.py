"""Presets: the shipped profiles load with the paper's defaults; bad presets name the bad key."""
from __future__ import annotations

import pytest

from dcnas_deploy.errors import ConfigError
from dcnas_deploy.presets import Preset, known_presets, load_preset, preset_from_yaml


def test_shipped_presets_load_and_round_trip():
    assert {"tiny-x8", "base-x8", "demo"} <= set(known_presets())
    for name in ("tiny-x8", "base-x8", "demo"):
        p = load_preset(name)
        assert p.name == name
        again = Preset.from_dict(p.to_dict())
        assert again.diff(p) == []
        assert preset_from_yaml(p.to_yaml(), "round trip").to_dict() == p.to_dict()


def test_tiny_and_base_carry_the_paper_settings():
    tiny, base = load_preset("tiny-x8"), load_preset("base-x8")
    for p in (tiny, base):
        assert (p.sampling.m, p.sampling.k) == (20, 1)
        assert p.training.lr == 1e-4 and p.training.betas == [0.9, 0.99] and p.training.eps == 1e-8
        assert p.data.batch_size == 16 and p.data.patch_size == 256 and p.data.norm == "lr"
        s = p.search
        assert (s.population, s.topk, s.crossovers, s.mutations, s.mutation_prob, s.iterations, s.init_pool) == \
            (50, 10, 25, 25, 0.1, 200, 1000)
        assert p.predictor.loss == "hinge"
    assert tiny.space.width == 8 and tiny.search.constraints == {"params": "0.6M"}
    assert base.space.width == 16 and base.search.constraints == {"params": "2.0M"}


@pytest.mark.parametrize("text, key", [
    ("training: {lrr: 0.1}", "training.lrr"),
    ("trainng: {lr: 0.1}", "trainng"),
    ("sampling: {m: 20, sigmaa: 0.1}", "sampling.sigmaa"),
])
def test_unknown_keys_are_named(text, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")) as exc:
        preset_from_yaml(text, "my.yaml")
    assert "unknown key" in str(exc.value) and "my.yaml" in str(exc.value)


@pytest.mark.parametrize("text, key", [
    ("training: {lr: -1}", "training.lr"),
    ("training: {lr: 0}", "training.lr"),
    ("training: {steps: 0}", "training.steps"),
    ("training: {betas: [0.9, 1.5]}", "training.betas"),
    ("data: {norm: minmax}", "data.norm"),
    ("data: {batch_size: two}", "data.batch_size"),
    ("data: {patch_size: 36}", "data.patch_size"),
    ("space: {scale: 3}", "space.scale"),
    ("space: {hr_size: [100, 100]}", "space.hr_size"),
    ("sampling: {m: 2, k: 3}", "sampling.k"),
    ("sampling: {sigma: 0}", "sampling.sigma"),
    ("sampling: {constraint: flops}", "sampling.constraint"),
    ("predictor: {loss: mse}", "predictor.loss"),
    ("search: {population: 4, topk: 10}", "search.topk"),
    ("search: {constraints: {params: lots}}", "search.constraints.params"),
    ("training: {lr: .nan}", "training.lr"),
    ("training: {eps: .inf}", "training.eps"),
    ("data: {noise_level: .inf}", "data.noise_level"),
    ("training: {betas: [0.9, .nan]}", "training.betas"),
    ("data: {spec: 'synthetic:n=abc'}", "data.spec"),
    ("data: {spec: 'synthetic:size=4'}", "data.spec"),
    ("data: {spec: 'nosuch:x'}", "data.spec"),
    ("data: {spec: nyu}", "data.spec"),
    ("data: {val_spec: 'synthetic:seed=-1'}", "data.val_spec"),
])
def test_out_of_range_values_are_named(text, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        preset_from_yaml(text, "bad.yaml")


def test_all_problems_reported_together():
    with pytest.raises(ConfigError) as exc:
        preset_from_yaml("training: {lr: -1, steps: 0}\ndata: {norm: x}", "bad.yaml")
    msg = str(exc.value)
    assert "3 invalid" in msg and "training.lr" in msg and "training.steps" in msg and "data.norm" in msg


def test_yaml_scientific_notation_and_int_floats_are_accepted():
    p = preset_from_yaml("training: {lr: 1e-3, steps: 100.0}", "x")  # PyYAML reads 1e-3 as a string
    assert p.training.lr == 1e-3 and p.training.steps == 100 and isinstance(p.training.steps, int)


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(ConfigError, match="unknown preset 'nope'.*tiny-x8"):
        load_preset("nope")
    with pytest.raises(ConfigError, match="not found"):
        load_preset(str(tmp_path / "absent.yaml"))
    bad = tmp_path / "bad.yaml"
    bad.write_text("training: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_preset(str(bad))
    bad.write_text("- a list")
    with pytest.raises(ConfigError, match="mapping"):
        load_preset(str(bad))


def test_empty_and_duplicate_key_presets_are_refused(tmp_path):
    """An empty file used to become the built-in defaults named 'custom'; a repeated key silently won."""
    for text in ("", "# only a comment\n"):
        (tmp_path / "p.yaml").write_text(text)
        with pytest.raises(ConfigError, match=r"p\.yaml is empty: .*presets demo > my-preset\.yaml"):
            load_preset(str(tmp_path / "p.yaml"))
    (tmp_path / "p.yaml").write_text("name: a\ntraining: {lr: 0.1}\ntraining: {steps: 3}\n")
    with pytest.raises(ConfigError, match=r"line 3.*duplicate key 'training' \(first at line 2\)"):
        load_preset(str(tmp_path / "p.yaml"))
    with pytest.raises(ConfigError, match="is empty"):
        preset_from_yaml("", "x.yaml")


def test_profiles_env_must_name_folders(tmp_path, monkeypatch):
    monkeypatch.setenv("DCNAS_PROFILES", str(tmp_path / "nope"))
    with pytest.raises(ConfigError, match=r"DCNAS_PROFILES names .*nope, which does not exist"):
        load_preset("demo")
    (tmp_path / "f").write_text("x")
    monkeypatch.setenv("DCNAS_PROFILES", str(tmp_path / "f"))
    with pytest.raises(ConfigError, match="which is a file"):
        load_preset("demo")


def test_overrides_are_validated_and_diffed():
    p = load_preset("demo")
    q = p.with_overrides({"training.steps": 7, "data.spec": "synthetic:n=4", "training.seed": None})
    assert q.training.steps == 7 and q.training.seed == p.training.seed
    assert sorted(d.split(":")[0] for d in p.diff(q)) == ["data.spec", "training.steps"]
    assert p.diff(q, ignore=("training.steps", "data.spec")) == []
    with pytest.raises(ConfigError, match="training.lr"):
        p.with_overrides({"training.lr": -5})
    with pytest.raises(ConfigError, match="section.key"):
        p.with_overrides({"lr": 1})


def test_profiles_env_folder_wins(tmp_path, monkeypatch):
    (tmp_path / "mine.yaml").write_text("name: mine\nspace: {width: 4, scale: 4, hr_size: [32, 32]}\n")
    monkeypatch.setenv("DCNAS_PROFILES", str(tmp_path))
    p = load_preset("mine")
    assert p.space.width == 4 and p.make_space().hr_size == (32, 32)
