"""The agent's token: read, made (0600) when missing, taken from the environment, checked for length."""
from __future__ import annotations

import stat

import pytest

from dcnas_deploy.agent.token import TOKEN_ENV, default_token_file, loose_permissions, resolve_token


def test_token_file_is_made_private_and_reused(tmp_path, monkeypatch):
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    path = tmp_path / "new" / "agent.token"
    token, source, made = resolve_token(path)
    assert made and source == str(path) and len(token) >= 40
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert not loose_permissions(path)
    again, _, made_again = resolve_token(path)
    assert again == token and not made_again
    assert resolve_token(tmp_path / "other.token")[0] != token  # random, not fixed


def test_environment_and_default_file(tmp_path, monkeypatch):
    monkeypatch.setenv(TOKEN_ENV, "from-the-environment-123")
    assert resolve_token(None) == ("from-the-environment-123", "$" + TOKEN_ENV, False)
    monkeypatch.setenv(TOKEN_ENV, "short")
    with pytest.raises(ValueError, match="shorter"):
        resolve_token(None)
    monkeypatch.delenv(TOKEN_ENV)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    assert default_token_file() == tmp_path / "cfg" / "dcnas-deploy" / "agent.token"
    token, source, made = resolve_token(None)
    assert made and source == str(default_token_file())


def test_short_or_loose_token_files(tmp_path, monkeypatch):
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    short = tmp_path / "short.token"
    short.write_text("abc\n")
    with pytest.raises(ValueError, match="shorter than 16"):
        resolve_token(short)
    loose = tmp_path / "loose.token"
    loose.write_text("a-long-enough-token-0123\n")
    loose.chmod(0o644)
    assert loose_permissions(loose)
