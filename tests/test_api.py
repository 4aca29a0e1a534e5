"""The public API (`dcnas_deploy.api`): the README's Python example runs as written (at a tiny geometry), and the
one ranking rule serves every caller."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from dcnas_deploy import api
from dcnas_deploy.cli.main import app

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_python_example() -> str:
    """The first ```python block of the README."""
    found = re.search(r"```python\n(.*?)```", README.read_text(), re.S)
    assert found, "README.md has no python example"
    return found.group(1)


def _tiny_supernet(tmp_path: Path) -> Path:
    from test_headline_commands import _tiny_preset

    preset = _tiny_preset(tmp_path)
    res = CliRunner().invoke(app, ["train-supernet", "--preset", str(preset), "--out", str(tmp_path / "super"),
                                   "--no-progress"])
    assert res.exit_code == 0, res.output
    return preset


def test_the_readme_python_example_runs(tmp_path, monkeypatch, capsys, lenient_host_check, middlebury_dir):
    """Every call of the example as written; only the sizes change: a tiny supernet and preset instead of the shipped
    ×8 ones, 2 retraining steps instead of 300, the smoke-test timing protocol for the LUT and the closed loop."""
    code = readme_python_example()
    preset = _tiny_supernet(tmp_path)
    swaps = [('supernet="supernet-x8"', f'supernet="{tmp_path / "super"}"'), ('"cpu-x8"', f'"{preset}"'),
             ("steps=300", "steps=2"), ('devices=["cpu"]))', 'devices=["cpu"], protocol=QUICK))'),
             ("../shared/data/middlebury", str(middlebury_dir))]
    for old, new in swaps:
        assert code.count(old) >= 1, f"the README example no longer contains {old!r}"
        code = code.replace(old, new)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DCNAS_LUTS", str(tmp_path / "luts"))
    from dcnas_deploy.runtimes.protocol import QUICK

    scope = {"QUICK": QUICK}
    exec(compile(code, "README.md", "exec"), scope)
    found, model = scope["found"], scope["model"]
    assert isinstance(found, api.SearchResult) and found.arch_path.is_file()
    assert found.chosen_on_device["cpu"]["within_budget"] and found.params > 0
    assert isinstance(model, api.RetrainResult) and model.model.is_file()
    lines = capsys.readouterr().out.strip().splitlines()
    assert "'middlebury'" in lines[-2] and "'jbu'" in lines[-2] and float(lines[-1]) > 0


def test_every_search_caller_ranks_with_the_same_rule(monkeypatch, tmp_path):
    """api.search ranks with predictor_tau's τ: the budget on the cost the predictor was trained under, else tau_hi."""
    from dcnas_deploy.search import inputs as inputs_mod
    from dcnas_deploy.space import SearchSpace

    space = SearchSpace(width=4, scale=4, hr_size=(32, 32))
    seen = []

    class Pred:
        meta = {"constraint": "params"}
        tau_hi = 9e9

        def score(self, genomes, tau):
            seen.append(tau)
            return np.zeros(len(genomes))

    class Stop(Exception):
        pass

    def fake_inputs(run_dir, predictor=None):
        from dcnas_deploy.presets import load_preset

        return inputs_mod.SupernetInputs(lambda g: np.zeros(len(g)), Pred(), load_preset("demo"), space, tmp_path, {})

    def fake_search(space, constraints, fitness, out, settings, strategy, scorer, *args, **kwargs):
        scorer(space.sample_genomes(2, seed=0))
        raise Stop

    monkeypatch.setattr(inputs_mod, "load_supernet_inputs", fake_inputs)
    monkeypatch.setattr("dcnas_deploy.search.run.search_architecture", fake_search)
    (tmp_path / "checkpoint.pt").write_bytes(b"")
    for params, expected in (("30k", 30_000.0), (None, 9e9)):
        with pytest.raises(Stop):
            api.search(api.SearchRequest(supernet=tmp_path, out=tmp_path / "a.yaml", params=params,
                                         macs=None if params else "1G", verify=False))
        assert seen[-1] == expected


def test_a_search_request_for_a_missing_supernet_says_what_to_give(tmp_path):
    from dcnas_deploy.errors import ConfigError
    from dcnas_deploy.space import SearchSpace

    with pytest.raises(ConfigError, match="no checkpoint.pt"):
        api.search(api.SearchRequest(supernet=tmp_path / "nothing", params="0.3M"))
    with pytest.raises(ConfigError, match="needs the supernet"):
        api.retrain(SearchSpace(width=4, scale=4, hr_size=(32, 32)).sample(0), "demo", tmp_path / "r")
