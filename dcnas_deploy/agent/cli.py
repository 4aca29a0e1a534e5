"""`python -m dcnas_deploy.agent` / `dcnas-deploy agent`: argument parsing and the serve loop.

argparse only, so a device host needs neither typer nor rich (nor torch).
"""
from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path
from typing import List, Optional

from dcnas_deploy.agent.server import MIB, AgentConfig, make_server
from dcnas_deploy.agent.token import TOKEN_ENV, loose_permissions, resolve_token
from dcnas_deploy.runtimes.table import AGENT_RUNTIMES

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def build_parser() -> argparse.ArgumentParser:
    """The agent's command-line options."""
    p = argparse.ArgumentParser(
        prog="python -m dcnas_deploy.agent",
        description="dcnas-deploy measurement agent: times model files on this host's runtime for a remote "
                    "dcnas-deploy (device profiles with `connection: {kind: agent, url: ..., token_file: ...}`).")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to bind (default 127.0.0.1: loopback only; reach it through an SSH tunnel, "
                        "or give e.g. 0.0.0.0 on a trusted network)")
    p.add_argument("--port", type=int, default=8765, help="TCP port (default 8765; 0 picks a free one)")
    p.add_argument("--token-file", type=Path, default=None,
                   help="file holding the shared token (made, mode 0600, if missing). Without it: $%s, "
                        "else ~/.config/dcnas-deploy/agent.token" % TOKEN_ENV)
    p.add_argument("--max-upload-mb", type=float, default=256.0, help="largest request body (default 256 MB)")
    p.add_argument("--timeout-s", type=float, default=300.0,
                   help="longest time one model may take to load and measure before its runtime process is "
                        "killed (default 300)")
    p.add_argument("--runtime", action="append", choices=list(AGENT_RUNTIMES), default=None,
                   help="runtime to serve (repeatable; default: every one that loads here)")
    p.add_argument("--max-queue", type=int, default=256, help="requests allowed to wait (default 256)")
    return p


def config_from_args(args: argparse.Namespace) -> AgentConfig:
    """Validate parsed arguments and build the AgentConfig (token resolved, made if needed)."""
    if args.max_upload_mb <= 0 or args.timeout_s <= 0 or args.max_queue <= 0:
        raise ValueError("--max-upload-mb, --timeout-s and --max-queue must be positive")
    token, source, made = resolve_token(args.token_file)
    if made:
        print("dcnas-agent: made a new token in %s (mode 0600): %s\n"
              "dcnas-agent: copy that file to the host and name it as token_file in the device profile"
              % (source, token), flush=True)
    elif not source.startswith("$") and loose_permissions(Path(source)):
        print("dcnas-agent: warning: %s is readable by other users; chmod 600 it" % source, file=sys.stderr)
    return AgentConfig(token=token, host=args.host, port=args.port,
                       max_upload_bytes=int(args.max_upload_mb * MIB), timeout_s=float(args.timeout_s),
                       runtimes=tuple(args.runtime or ()), max_queue=int(args.max_queue),
                       extra={"token_source": source})


def _stop(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def serve(config: AgentConfig) -> None:
    """Bind, print where we listen, and serve until interrupted (SIGINT/SIGTERM); then clean up."""
    server = make_server(config)
    if config.host not in LOOPBACK:
        print("dcnas-agent: warning: listening on %s: plain HTTP, the token travels unencrypted; prefer "
              "--host 127.0.0.1 with an SSH tunnel (ssh -L %d:127.0.0.1:%d THIS_HOST)"
              % (config.host, config.port, config.port), file=sys.stderr)
    for name, facts in server.facts["runtimes"].items():
        if not facts.get("available"):
            print("dcnas-agent: not serving %s: %s" % (name, facts.get("why")), file=sys.stderr)
    runtimes = ", ".join("%s %s" % (r, server.facts["runtimes"][r].get("version")) for r in config.runtimes)
    print("dcnas-agent listening on %s (runtimes: %s; token from %s; max upload %d MB; timeout %g s)"
          % (server.url, runtimes, config.extra.get("token_source"), config.max_upload_bytes // MIB,
             config.timeout_s), flush=True)
    signal.signal(signal.SIGTERM, _stop)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        print("dcnas-agent: stopping", flush=True)
    finally:
        server.server_close()


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point of `python -m dcnas_deploy.agent`; returns the exit code."""
    args = build_parser().parse_args(argv)
    try:
        serve(config_from_args(args))
    except (ValueError, RuntimeError, OSError) as exc:
        print("dcnas-agent: error: %s" % exc, file=sys.stderr)
        return 2
    return 0
