"""One runtime table (issue 18): sessions, converters, device validation, the agent and export derive from it."""
from __future__ import annotations

from pathlib import Path

import pytest

from dcnas_deploy.errors import ConfigError
from dcnas_deploy.runtimes.table import AGENT_FORMATS, AGENT_RUNTIMES, RUNTIMES, get_runtime, model_suffixes, runtimes_loading


def test_each_row_names_a_real_module_distribution_and_extra():
    """The install names in the table are the ones pip and Python know (a typo here breaks `devices`/provenance)."""
    import importlib.metadata
    import importlib.util
    import re
    import sys

    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - CI runs 3.11
        tomllib = pytest.importorskip("tomli")
    extras = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]
    for name, row in RUNTIMES.items():
        assert importlib.util.find_spec(row.module) is not None, name
        assert importlib.metadata.version(row.dist), name
        assert row.extra in extras, name
        if row.extra != "all":
            assert any(re.match(rf"{re.escape(row.dist)}\b", req) for req in extras[row.extra]), (name, extras[row.extra])


def test_what_each_converter_writes_every_runtime_that_claims_it_loads(tmp_path):
    """A tiny conv net through every backend: the file has the row's suffix, every runtime listed as loading that
    suffix runs it to PyTorch's output, and a runtime not listed refuses it by name."""
    import numpy as np
    import torch

    from dcnas_deploy.runtimes.backends import BACKENDS
    from dcnas_deploy.runtimes.sessions import load_session, make_feeds

    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Conv2d(2, 3, 3, padding=1), torch.nn.ReLU()).eval()
    x = torch.rand(1, 2, 8, 8)
    with torch.no_grad():
        want = module(x).numpy()
    ran = set()
    for name, backend in BACKENDS.items():
        path = backend.convert(module, (x,), tmp_path / f"{name}{backend.file_suffix}")
        assert path.suffix == RUNTIMES[name].writes[0] and path.is_file(), name
        for runtime in runtimes_loading(path.suffix):
            session = load_session(path, runtime, {"threads": 1})
            try:
                got = session.run(make_feeds(session.inputs, [x.numpy()]))[0]
            finally:
                session.close()
            np.testing.assert_allclose(np.asarray(got).reshape(want.shape), want, atol=1e-5, err_msg=f"{path.name} in {runtime}")
            ran.add((path.suffix, runtime))
        for other in set(RUNTIMES) - set(runtimes_loading(path.suffix)):
            with pytest.raises(ConfigError, match=f"{other} loads"):
                load_session(path, other)
    assert {(".onnx", "onnxruntime"), (".onnx", "openvino"), (".xml", "openvino"), (".tflite", "litert")} <= ran


def test_the_agent_serves_and_accepts_what_the_table_says():
    from dcnas_deploy.agent.facts import DEVICE_PROBES

    assert set(DEVICE_PROBES) == set(AGENT_RUNTIMES) and "torch" not in AGENT_RUNTIMES
    for runtime, probe in DEVICE_PROBES.items():  # each probe runs here and names something
        found = probe()
        assert found and all(isinstance(d, str) and d for d in found), (runtime, found)
    for device in DEVICE_PROBES["openvino"]():  # e.g. "CPU (AMD EPYC)": a device a profile can name, with its model
        assert device.split()[0].split(".")[0] in RUNTIMES["openvino"].devices, device
    assert "CPUExecutionProvider" in DEVICE_PROBES["onnxruntime"]()  # ORT's probe lists execution providers
    assert set(AGENT_FORMATS) == {".onnx", ".xml", ".tflite"}


def test_device_profiles_and_benchmark_follow_the_table():
    from dcnas_deploy.pipeline.benchmark import input_kind_for
    from dcnas_deploy.runtimes.devices import profile_from_dict

    base = {"name": "x", "runtime": "openvino", "precision": "fp32", "threads": 1, "connection": {"kind": "local"}}
    for rdev in RUNTIMES["openvino"].devices:
        assert profile_from_dict({**base, "runtime_device": rdev}).runtime_device == rdev
    with pytest.raises(ConfigError, match="expected one of"):
        profile_from_dict({**base, "runtime_device": "cuda"})
    with pytest.raises(ConfigError, match="is not one of"):
        profile_from_dict({**base, "runtime": "tensorrt", "runtime_device": "cuda"})
    for suffix in model_suffixes():
        if suffix != ".pt":  # a .pt is a checkpoint or TorchScript, told apart by content
            assert input_kind_for(Path(f"m{suffix}")).name == "model-file"
    assert runtimes_loading(".onnx") == ["onnxruntime", "openvino"]
    with pytest.raises(ConfigError, match="unknown runtime 'nope'; known: litert, onnxruntime, openvino, torch"):
        get_runtime("nope")
