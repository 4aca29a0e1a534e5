"""Acceptance (issue 30, round 2, part B): shipped names everywhere, export statuses that describe their files,
and exported graphs used at other sizes than they were checked at."""
from __future__ import annotations

import re

from typer.testing import CliRunner

from dcnas_deploy.cli.main import app


def _invoke(*argv: str):
    result = CliRunner().invoke(app, list(argv))
    return result, " ".join(re.sub(r"[│╭╮╰╯─━┃]", " ", result.output).split())


def test_benchmark_times_a_shipped_model_by_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result, text = _invoke("benchmark", "depth-x8", "--device", "cpu-torch", "--hr", "32x32")
    assert result.exit_code == 0, text
    assert "benchmark depth-x8: the shipped model" in text and "depth-x8 on cpu-torch" in text
    assert "median ms" in text
