"""Model: exact subnets, exact parameter counts, portable (ONNX) op set, PIL-equal bicubic LR-up."""
from __future__ import annotations

import io
import warnings

import numpy as np
import pytest
import torch

from dcnas_deploy import Arch, SearchSpace, Supernet
from dcnas_deploy.data.resize import bicubic_up
from dcnas_deploy.model import BicubicUpsample
from dcnas_deploy.space.genes import FUSIONS, fusion_gene

N_ARCHS = 50


@pytest.fixture(scope="module", params=[8, 16], ids=["width8", "width16"])
def trained_like_supernet(request):
    """A supernet with random (non-identity) kernel transforms, so weight sharing is exercised."""
    torch.manual_seed(request.param)
    space = SearchSpace(width=request.param, scale=8, hr_size=(32, 32))
    net = Supernet(space).eval()
    with torch.no_grad():
        for p in net.parameters():
            if p.dim() == 2 and p.shape[0] == p.shape[1]:  # kernel transforms
                p.add_(0.05 * torch.randn_like(p))
    return space, net


def _inputs(space: SearchSpace, seed: int):
    g = torch.Generator().manual_seed(seed)
    h, w = space.hr_size
    return torch.rand(2, 1, h // space.scale, w // space.scale, generator=g), torch.rand(2, 3, h, w, generator=g)


def test_materialized_subnets_are_exact_and_portable(trained_like_supernet):
    """For 50 random archs: subnet == supernet path (≤1e-5), exact params; every 5th through ONNX Runtime ==
    PyTorch (≤1e-4) — ONNX export dominated the suite's time, and test_export covers random archs too."""
    ort = pytest.importorskip("onnxruntime")
    space, net = trained_like_supernet
    lr, guide = _inputs(space, 0)
    for seed in range(N_ARCHS):
        arch = space.sample(seed)
        sub = net.materialize(arch).eval()
        with torch.no_grad():
            want = sub(lr, guide)
            diff = (net(lr, guide, arch=arch) - want).abs().max().item()
        assert diff <= 1e-5, (seed, diff)
        assert sum(p.numel() for p in sub.parameters()) == space.params(arch)
        assert not any(type(m).__name__ == "ElasticMobileBlock" for m in sub.modules())
        if seed % 5:
            continue
        buf = io.BytesIO()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(sub, (lr, guide), buf, dynamo=False, input_names=["lr", "guide"],
                              output_names=["sr"], opset_version=17)
        sess = ort.InferenceSession(buf.getvalue(), providers=["CPUExecutionProvider"])
        got = sess.run(None, {"lr": lr.numpy(), "guide": guide.numpy()})[0]
        assert np.abs(got - want.numpy()).max() <= 1e-4, seed


def test_dead_stages_have_no_parameters(trained_like_supernet):
    space, net = trained_like_supernet
    g = list(space.sample(7).genes)
    for level, name in {3: "none", 2: "guide", 1: "sum", 0: "none"}.items():
        g[fusion_gene(level)] = FUSIONS.index(name)
    arch = Arch(g)
    sub = net.materialize(arch)
    names = [n for n, _ in sub.named_parameters()]
    assert not any(k in n for n in names for k in ("target_encoder_s2", "target_encoder_s3", "downs.target2"))
    assert not any(k in n for n in names for k in ("guide_encoder_s3", "decoder_s3", "ups.3", "downs.guide3"))
    assert any("downs.guide2" in n for n in names) and any("ups.2" in n for n in names)
    assert sum(p.numel() for p in sub.parameters()) == space.params(arch)


@pytest.mark.parametrize("scale", [4, 8, 16])
def test_bicubic_lr_up_equals_pil(scale):
    rng = np.random.default_rng(scale)
    up = BicubicUpsample(scale)
    for shape in [(5, 7), (16, 12), (3, 3), (24, 32)]:
        lr = rng.random(shape, dtype=np.float32) * 255.0 / 255.0
        got = up(torch.from_numpy(lr)[None, None])[0, 0].numpy()
        assert np.abs(got - bicubic_up(lr, scale)).max() <= 1e-5


def test_bicubic_multichannel_matches_per_channel():
    rng = np.random.default_rng(0)
    x = rng.random((2, 6, 6), dtype=np.float32)
    got = BicubicUpsample(4, channels=2)(torch.from_numpy(x)[None])[0].numpy()
    for c in range(2):
        assert np.abs(got[c] - bicubic_up(x[c], 4)).max() <= 1e-5


def test_supernet_trains_shared_weights_and_rejects_bad_shapes():
    space = SearchSpace(width=8, hr_size=(32, 32))
    net = Supernet(space)
    lr, guide = _inputs(space, 2)
    arch = space.sample(3)
    net(lr, guide, arch=arch).abs().mean().backward()
    grads = [p for p in net.parameters() if p.grad is not None and p.grad.abs().sum() > 0]
    assert grads, "no gradient reached the shared weights"
    with pytest.raises(ValueError, match=r"must be ×8 the LR"):
        net(lr, guide[:, :, :16], arch=arch)
    with pytest.raises(ValueError, match="guide must be N×3"):
        net(lr, guide[:, :1], arch=arch)
