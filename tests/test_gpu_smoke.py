"""bench/gpu_smoke.py skips cleanly where there is no CUDA device (issue 19 item 9); its CUDA path is unverified here."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def test_gpu_smoke_skips_without_cuda(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present: run bench/gpu_smoke.py itself")
    done = subprocess.run([sys.executable, str(REPO / "bench" / "gpu_smoke.py"), "--out", str(tmp_path / "o")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "gpu_smoke skipped" in done.stdout and "no CUDA device" in done.stdout
    assert not (tmp_path / "o").exists()
