"""Multi-band targets and one-band guides through data, training batches, metrics, upsamplers and export."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from dcnas_deploy.data.degrade import make_triple
from dcnas_deploy.data.evaluation import evaluate
from dcnas_deploy.data.metrics import ssim
from dcnas_deploy.data.normalize import minmax_of
from dcnas_deploy.data.protocols import get_protocol
from dcnas_deploy.data.registry import Dataset
from dcnas_deploy.data.sample import Sample
from dcnas_deploy.train.batches import TrainStream
from dcnas_deploy.upsamplers import create_upsampler

RAW = get_protocol("raw")


class TwoBand(Dataset):
    """Two-band targets (different ranges, a shared edge) with a one-band guide showing the edge."""

    name = "two-band"

    def __init__(self, n: int = 3, size: int = 32):
        self.n, self.size, self.protocol = n, size, RAW

    def __len__(self) -> int:
        return self.n

    def load(self, index: int) -> Sample:
        rng = np.random.default_rng(index)
        yy, xx = np.mgrid[0:self.size, 0:self.size].astype(np.float32)
        edge = (xx > self.size * (0.3 + 0.4 * rng.random())).astype(np.float32)
        pan = (0.2 + 0.6 * edge + 0.02 * rng.standard_normal((self.size, self.size))).astype(np.float32)
        ms = np.stack([100 + 500 * edge + yy, 300 + 900 * edge - xx], -1).astype(np.float32)
        return Sample(f"s{index}", pan[..., None], ms, None, "DN", zero_is_hole=False)


def test_per_band_normalisation_and_batches():
    ds = TwoBand()
    mm = minmax_of(ds[0].depth_hr, zero_is_hole=False)
    assert np.shape(mm.lo) == (2,) and mm.apply(ds[0].depth_hr).min(axis=(0, 1)) == pytest.approx([0, 0])
    assert mm.invert(mm.apply(ds[0].depth_hr)) == pytest.approx(ds[0].depth_hr, rel=1e-5)
    b = TrainStream(ds, 2, 16, 4, "lr").batch(0)
    assert [tuple(t.shape) for t in b] == [(2, 2, 4, 4), (2, 1, 16, 16), (2, 2, 16, 16), (2, 2, 16, 16)]
    for band in range(2):  # each band of each LR patch spans [0, 1] on its own
        assert float(b.lr[:, band].amin()) == pytest.approx(0.0) and float(b.lr[:, band].amax()) == pytest.approx(1.0)


def test_classical_methods_run_band_by_band_and_metrics_average_bands():
    ds = TwoBand()
    t = make_triple(ds[0], 4)
    assert t.lr.shape == (8, 8, 2)
    for name in ("bicubic", "guided-filter", "jbu"):
        up = create_upsampler(name, 4, guide_bands=1)
        sr = up(t.lr, t.guide, zero_is_hole=False)
        assert sr.shape == (32, 32, 2)
        assert np.array_equal(sr[..., 1], up(t.lr[..., 1], t.guide, zero_is_hole=False))
    assert ssim(sr, t.hr, RAW) == pytest.approx(np.mean([ssim(sr[..., c], t.hr[..., c], RAW) for c in range(2)]))
    with pytest.raises(Exception, match="H×W×3"):
        create_upsampler("bicubic", 4)(t.lr[..., 0], t.guide)  # an RGB method refuses the one-band guide
    r = evaluate(create_upsampler("jbu", 4, guide_bands=1), ds, 4)
    b = evaluate(create_upsampler("bicubic", 4, guide_bands=1), ds, 4)
    assert r.mean()["rmse"] < b.mean()["rmse"]  # the guide's edge helps


def test_a_multiband_model_runs_as_checkpoint_and_as_onnx_alike(tmp_path, one_thread):
    from dcnas_deploy.export.deployable import deployable_from_checkpoint
    from dcnas_deploy.export.formats import parse_precisions, parse_targets
    from dcnas_deploy.export.pipeline import ExportSettings, export_rows
    from dcnas_deploy.export.samples import ExportData, fit_to_geometry, to_triple
    from dcnas_deploy.model.checkpoint import save_model
    from dcnas_deploy.model.subnet import SubNet
    from dcnas_deploy.space import Arch, SearchSpace

    torch.manual_seed(0)
    space = SearchSpace(width=4, scale=4, hr_size=(32, 32), target_channels=2, guide_channels=1)
    net = SubNet(space, Arch(space.sample_genomes(1, seed=3)[0]))
    save_model(tmp_path / "m.pt", net, {"norm": "lr"})
    ds = TwoBand()
    ckpt = create_upsampler(str(tmp_path / "m.pt"), 4)
    t = make_triple(ds[1], 4)
    sr = ckpt(t.lr, t.guide, zero_is_hole=False)
    assert sr.shape == (32, 32, 2)
    module, meta = deployable_from_checkpoint(tmp_path / "m.pt")
    data = ExportData([to_triple(fit_to_geometry(ds[i], (32, 32)), 4) for i in range(2)], [], RAW, "two-band")
    settings = ExportSettings(formats=parse_targets("onnx"), precisions=parse_precisions("fp32"),
                              out_dir=tmp_path / "exp", latency=None)
    report = export_rows(module, meta, settings, data=data)
    assert report.ok, [(r.status, r.error) for r in report.rows]
    onnx = create_upsampler(str(tmp_path / "exp" / "model_fp32.onnx"), 4)
    assert (onnx.target_bands, onnx.guide_bands) == (2, 1)
    assert np.abs(onnx(t.lr, t.guide, zero_is_hole=False) - sr).max() < 1e-3 * float(np.abs(sr).max())
