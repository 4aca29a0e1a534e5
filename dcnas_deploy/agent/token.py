"""The agent's shared secret: read from a file or an environment variable, or made and saved (0600)."""
from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path
from typing import Optional, Tuple

TOKEN_ENV = "DCNAS_AGENT_TOKEN"
MIN_TOKEN_CHARS = 16


def default_token_file() -> Path:
    """~/.config/dcnas-deploy/agent.token (XDG_CONFIG_HOME honoured)."""
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "dcnas-deploy" / "agent.token"


def read_token(path: Path) -> str:
    """The token in `path` (surrounding whitespace stripped); ValueError when empty or too short."""
    token = Path(path).read_text().strip()
    if len(token) < MIN_TOKEN_CHARS:
        raise ValueError("token in %s is shorter than %d characters; delete the file to have a new one made"
                         % (path, MIN_TOKEN_CHARS))
    return token


def write_new_token(path: Path) -> str:
    """Make a random token and write it to `path` with mode 0600 (the folder 0700 if it is new)."""
    path = Path(path)
    if not path.parent.exists():
        path.parent.mkdir(parents=True, mode=0o700)
    token = secrets.token_urlsafe(32)
    tmp = path.with_name(path.name + ".%d.tmp" % os.getpid())
    fd = os.open(str(tmp), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(token + "\n")
    os.replace(str(tmp), str(path))
    return token


def loose_permissions(path: Path) -> bool:
    """Whether group or others can read `path`."""
    return bool(Path(path).stat().st_mode & (stat.S_IRGRP | stat.S_IROTH))


def resolve_token(token_file: Optional[Path]) -> Tuple[str, str, bool]:
    """(token, where it came from, whether it was just made).

    Order: `--token-file` (made if missing), then $DCNAS_AGENT_TOKEN, then the default token file
    (made if missing).
    """
    if token_file is None and os.environ.get(TOKEN_ENV):
        token = os.environ[TOKEN_ENV].strip()
        if len(token) < MIN_TOKEN_CHARS:
            raise ValueError("$%s is shorter than %d characters" % (TOKEN_ENV, MIN_TOKEN_CHARS))
        return token, "$" + TOKEN_ENV, False
    path = Path(token_file) if token_file is not None else default_token_file()
    if path.exists():
        return read_token(path), str(path), False
    return write_new_token(path), str(path), True
