"""Search space: genome YAML round-trip, validation messages, liveness, params/MACs, batch costs."""
from __future__ import annotations

import pytest
import yaml

from dcnas_deploy import Arch, SearchSpace
from dcnas_deploy.errors import ConfigError
from dcnas_deploy.space.genes import FUSIONS, N_GENES, fusion_gene


def _with_fusions(arch: Arch, by_level: dict) -> Arch:
    g = list(arch.genes)
    for level, name in by_level.items():
        g[fusion_gene(level)] = FUSIONS.index(name)
    return Arch(g)


def test_yaml_round_trip_random_archs(tmp_path):
    space = SearchSpace()
    for seed in range(30):
        arch = space.sample(seed)
        path = arch.to_yaml(tmp_path / f"a{seed}.yaml")
        assert Arch.from_yaml(path) == arch


def test_hand_written_yaml_with_mistakes_names_each_one(tmp_path):
    good = SearchSpace().sample(0).to_dict()
    good["guide_encoder"]["stage1"][2] = "k4e3"
    good["target_encoder"]["stage0"] = ["skip", "k3e2"]
    good["decoder"]["stage2"]["fusion"] = "max"
    good["decoder"]["stage0"]["blocks"][3] = 7
    good["extra"] = 1
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(good))
    with pytest.raises(ConfigError) as info:
        Arch.from_yaml(path)
    msg = str(info.value)
    assert "guide_encoder.stage1[2]: 'k4e3' is not a block" in msg
    assert "target_encoder.stage0: expected a list of 4 blocks" in msg and "got 2" in msg
    assert "decoder.stage2.fusion: 'max' is not a fusion op" in msg
    assert "decoder.stage0.blocks[3]: '7' is not a block" in msg
    assert "unknown key 'extra'" in msg


def test_malformed_yaml_and_missing_file(tmp_path):
    p = tmp_path / "broken.yaml"
    p.write_text("guide_encoder: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        Arch.from_yaml(p)
    with pytest.raises(ConfigError, match="not found"):
        Arch.from_yaml(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="52 genes"):
        Arch([0] * 10)


def test_liveness_drops_unused_encoder_stages():
    space = SearchSpace()
    base = space.sample(1)
    # Only level 1 fuses, with the guide only: target encoder entirely dead, guide stages 2-3 dead,
    # decoder stages 2-3 dead (nothing to decode before level 1).
    arch = _with_fusions(base, {3: "none", 2: "none", 1: "guide", 0: "none"})
    roles = {lo.role for lo in space.live_ops(arch)}
    assert not any(r.startswith("target_encoder") for r in roles)
    assert not any(r.startswith(("guide_encoder.stage2", "guide_encoder.stage3", "guide_encoder.down2")) for r in roles)
    assert not any(r.startswith(("decoder.stage3", "decoder.stage2", "decoder.up3", "decoder.up2")) for r in roles)
    assert "decoder.up1" in roles and "head" in roles
    # all-none: the network is the in-graph bicubic LR-up alone
    only_bicubic = _with_fusions(base, {lv: "none" for lv in range(4)})
    assert [lo.role for lo in space.live_ops(only_bicubic)] == ["lr_up"]
    assert space.params(only_bicubic) == 0


def test_mutate_crossover_sample_are_seeded_and_valid():
    space = SearchSpace()
    a, b = space.sample(1), space.sample(2)
    assert space.sample(1) == a and a != b
    assert space.mutate(a, 0.0, seed=3) == a
    m = space.mutate(a, 0.5, seed=3)
    assert m == space.mutate(a, 0.5, seed=3) and m != a
    child = space.crossover(a, b, seed=4)
    assert all(x in (y, z) for x, y, z in zip(child.genes, a.genes, b.genes))
    assert len(child.genes) == N_GENES


def test_batch_costs_equal_per_arch_sums():
    space = SearchSpace(width=16, scale=4, hr_size=(64, 96))
    genomes = space.sample_genomes(500, seed=5)
    params = space.cost_tables(lambda op: op.params)
    macs = space.cost_tables(lambda op: op.macs)
    count = space.cost_tables(lambda op: 1)
    for g, p, m, n in zip(genomes, params.batch(genomes), macs.batch(genomes), count.batch(genomes)):
        arch = Arch(g)
        assert p == space.params(arch)
        assert m == space.macs(arch)
        assert n == len(space.live_ops(arch))


def test_unique_ops_cover_every_live_op():
    space = SearchSpace()
    keys = {op.key for op in space.unique_ops()}
    for seed in range(50):
        assert {lo.op.key for lo in space.live_ops(space.sample(seed))} <= keys
    assert "mbconv k7e6 c64 32x32" in keys and "lr_up x8 c1 32x32" in keys


def test_bad_geometry_is_rejected():
    with pytest.raises(ConfigError, match="multiples of 8"):
        SearchSpace(hr_size=(100, 100))
    with pytest.raises(ConfigError, match="scale"):
        SearchSpace(scale=3)
    with pytest.raises(ConfigError, match="unknown search-space keys"):
        SearchSpace.from_dict({"width": 8, "depth": 3})


def test_uniform_hand_designed_arch():
    a = Arch.uniform("k3e4", 2, "concat_pw")
    d = a.to_dict()
    for branch in ("guide_encoder", "target_encoder"):
        assert all(blocks == ["k3e4", "k3e4", "skip", "skip"] for blocks in d[branch].values())
    assert all(st == {"fusion": "concat_pw", "blocks": ["k3e4", "k3e4", "skip", "skip"]} for st in d["decoder"].values())
    space = SearchSpace(width=8, scale=8, hr_size=(64, 64))
    assert len([lo for lo in space.live_ops(a) if lo.op.kind == "mbconv"]) == 3 * 4 * 2
    assert space.params(Arch.uniform("k5e4", 2)) > space.params(a)
    for bad in (("k4e4", 2, "sum"), ("k3e4", 5, "sum"), ("k3e4", 2, "add")):
        with pytest.raises(ConfigError):
            Arch.uniform(*bad)


def test_arch_show_takes_the_space_an_architecture_was_searched_in(tmp_path):
    import json

    from typer.testing import CliRunner

    from dcnas_deploy.cli.main import app

    space = SearchSpace(width=8, scale=4, hr_size=(64, 64))
    arch = Arch(space.sample(1).genes, meta={"space": space.to_dict()})
    arch.to_yaml(tmp_path / "a.yaml")
    show = lambda *more: json.loads(CliRunner().invoke(app, ["arch", "show", str(tmp_path / "a.yaml"), "--json",
                                                             *more]).stdout)
    got = show()
    assert (got["scale"], got["hr"]) == (4, [64, 64])
    assert show("--scale", "8")["scale"] == 8  # an option still wins
    Arch(arch.genes).to_yaml(tmp_path / "a.yaml")  # no recorded space: the defaults
    assert (show()["scale"], show()["hr"]) == (8, [256, 256])
