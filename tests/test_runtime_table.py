"""One runtime table (issue 18): sessions, converters, device validation, the agent and export derive from it."""
from __future__ import annotations

from pathlib import Path

import pytest

from dcnas_deploy.errors import ConfigError
from dcnas_deploy.runtimes.table import (AGENT_FORMATS, AGENT_RUNTIMES, FILE_FORMATS, RUNTIMES, get_runtime,
                                         model_suffixes, runtimes_loading)


def test_every_row_has_its_session_and_every_suffix_a_description():
    from dcnas_deploy.runtimes.files import SESSIONS

    assert set(SESSIONS) == set(RUNTIMES)
    for name, row in RUNTIMES.items():
        assert SESSIONS[name].__name__ == row.session
        assert set(row.writes) <= set(row.loads), name  # what its converter writes, its session loads
        assert all(s in FILE_FORMATS for s in row.loads), name
    assert set(model_suffixes()) == set(FILE_FORMATS)


def test_converters_and_export_formats_write_what_their_runtime_loads():
    from dcnas_deploy.export.formats import FORMATS
    from dcnas_deploy.runtimes.backends import BACKENDS

    for name, backend in BACKENDS.items():
        assert backend.suffixes == RUNTIMES[name].writes
    for fmt in FORMATS.values():
        assert fmt.suffix == RUNTIMES[fmt.runtime].writes[0] and fmt.suffix in RUNTIMES[fmt.runtime].loads


def test_the_agent_serves_and_accepts_what_the_table_says():
    from dcnas_deploy.agent.facts import DEVICE_PROBES

    assert set(DEVICE_PROBES) == set(AGENT_RUNTIMES) and "torch" not in AGENT_RUNTIMES
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
