"""Training sources that transfer to real depth (issue 19 item 2): dead-leaves scenes, mixes, simulated sensor LR."""
from __future__ import annotations

import numpy as np
import pytest

from dcnas_deploy.data.degrade import make_triple
from dcnas_deploy.data.holes import invalid_mask
from dcnas_deploy.data.registry import check_spec, open_dataset
from dcnas_deploy.data.sensor_lr import MAX_HOLE_SHARE, simulate_sensor_lr
from dcnas_deploy.errors import ConfigError


def test_deadleaves_scenes_are_deterministic_occlusions_in_metres():
    ds = open_dataset("deadleaves:n=3,size=96,seed=4", "train")
    a, b = ds[1], open_dataset("deadleaves:n=3,size=96,seed=4", "train")[1]
    assert np.array_equal(a.depth_hr, b.depth_hr) and np.array_equal(a.guide, b.guide)
    assert not np.array_equal(a.depth_hr, ds[2].depth_hr)
    assert ds.protocol.name == "metres" and a.units == "m"
    assert a.guide.shape == (96, 96, 3) and 0 <= a.guide.min() and a.guide.max() <= 1
    assert 0.5 <= a.depth_hr.min() and a.depth_hr.max() <= 9.0 + 1.5
    jumps = np.abs(np.diff(a.depth_hr, axis=1)) > 0.04
    assert jumps.mean() > 0.002  # leaf boundaries are depth edges
    val = open_dataset("deadleaves:n=3,size=96,seed=4", "val")[1]
    assert not np.array_equal(val.depth_hr, a.depth_hr)  # splits are disjoint streams


def test_deadleaves_texture_puts_colour_edges_inside_flat_depth():
    plain = open_dataset("deadleaves:n=6,size=96,texture=0,camouflage=0", "train")
    textured = open_dataset("deadleaves:n=6,size=96,texture=1,camouflage=0", "train")

    def colour_edges_off_depth_edges(ds) -> float:
        shares = []
        for s in ds:
            dz = np.abs(np.diff(s.depth_hr, axis=1)) > 0.04
            dc = np.abs(np.diff(s.guide, axis=1)).sum(-1) > 0.15
            shares.append((dc & ~dz).mean())
        return float(np.mean(shares))

    assert colour_edges_off_depth_edges(textured) > 2 * colour_edges_off_depth_edges(plain)


@pytest.mark.parametrize("spec, words", [
    ("deadleaves:texture=2", "probability"),
    ("deadleaves:texture=x", "probability"),
    ("deadleaves:colour=1", "bad deadleaves option"),
    ("mix:synthetic", "at least two"),
    ("mix:synthetic+mix:synthetic+deadleaves", "cannot contain another mix"),
    ("mix:synthetic+thermal-synthetic", "share a task"),
    ("sensorlr", "needs the dataset"),
    ("sensorlr:thermal-synthetic", "simulates depth sensors"),
])
def test_bad_specs_say_what_is_wrong(spec, words):
    with pytest.raises(ConfigError, match=words):
        check_spec(spec)


def test_mix_interleaves_components_equally(middlebury_dir):
    ds = open_dataset("mix:synthetic:n=2,size=64+deadleaves:n=3,size=64", "train")
    assert len(ds) == 4 and ds.protocol.name == "metres"
    assert [s.name.split("_")[0] for s in ds] == ["synthetic", "deadleaves", "synthetic", "deadleaves"]
    with pytest.raises(ConfigError, match="share a scoring protocol"):
        open_dataset(f"mix:synthetic:n=2,size=64+middlebury:{middlebury_dir}", "test")


def test_sensor_lr_adds_noise_and_holes_but_keeps_the_capture_usable():
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:32, 0:32].astype(np.float32)
    lr = np.where(xx > 16, 2.0, 4.0).astype(np.float32) + yy * 0.01
    outs = [simulate_sensor_lr(lr, np.random.default_rng(i)) for i in range(20)]
    holes = np.array([invalid_mask(o).mean() for o in outs])
    assert holes.max() <= MAX_HOLE_SHARE and holes.mean() > 0
    edge_cols = np.array([invalid_mask(o)[:, 15:18].mean() for o in outs])
    assert edge_cols.mean() > 3 * holes.mean() / 2  # missing pixels gather at the depth jump
    valid = [(o - lr)[~invalid_mask(o)] for o in outs]
    assert np.mean([np.abs(v).mean() for v in valid]) > 1e-3  # noisy
    assert all(o[~invalid_mask(o)].min() >= lr.min() - 1e-6 and o.max() <= lr.max() + 1e-6 for o in outs)
    flat = np.full((8, 8), 3.0, dtype=np.float32)
    assert np.array_equal(simulate_sensor_lr(flat, rng), flat)  # no range: nothing to simulate


def test_sensorlr_dataset_degrades_lr_only_and_reproducibly():
    clean = open_dataset("deadleaves:n=2,size=64", "test")
    sensed = open_dataset("sensorlr:deadleaves:n=2,size=64", "test")
    assert sensed.protocol.name == clean.protocol.name and len(sensed) == 2
    a, b = make_triple(clean[0], 4), make_triple(sensed[0], 4)
    again = make_triple(open_dataset("sensorlr:deadleaves:n=2,size=64", "test")[0], 4)
    assert np.array_equal(a.hr, b.hr) and np.array_equal(a.guide, b.guide)
    assert not np.array_equal(a.lr, b.lr) and np.array_equal(b.lr, again.lr)


def test_sensor_lr_scores_on_middlebury_are_harder_than_bicubic_lr(middlebury_dir):
    from dcnas_deploy.data.evaluation import evaluate
    from dcnas_deploy.upsamplers import create_upsampler

    up = create_upsampler("bicubic", 8)
    clean = evaluate(up, open_dataset(f"middlebury:{middlebury_dir}", limit=3), 8).mean()["rmse"]
    sensed = evaluate(up, open_dataset(f"sensorlr:middlebury:{middlebury_dir}", limit=3), 8).mean()["rmse"]
    assert sensed > clean * 1.1
