"""`dcnas-deploy agent`: run the device-side measurement agent (same as `python -m dcnas_deploy.agent`)."""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from dcnas_deploy.cli.common import Number


def _runtime(name: str) -> str:
    """--runtime checked at parse time against the runtimes the agent can serve."""
    from dcnas_deploy.runtimes.table import AGENT_RUNTIMES

    if name not in AGENT_RUNTIMES:
        raise ValueError(f"{name!r} is not one of {', '.join(AGENT_RUNTIMES)}")
    return name


def agent(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind (loopback unless told; plain HTTP)."),
    port: int = typer.Option(8765, "--port", parser=Number(int, min=0, max=65535), help="TCP port (0 picks a free one)."),
    token_file: Optional[Path] = typer.Option(None, "--token-file",
                                              help="Shared token file (made, mode 0600, if missing)."),
    max_upload_mb: float = typer.Option(256.0, "--max-upload-mb", parser=Number(float, min=0, min_open=True),
                                        help="Largest request body in MB."),
    timeout_s: float = typer.Option(300.0, "--timeout-s", parser=Number(float, min=0, min_open=True),
                                    help="Longest load+measure time per model before its runtime is killed."),
    runtime: Optional[List[str]] = typer.Option(None, "--runtime", parser=_runtime,
                                                help="Runtime to serve: onnxruntime, openvino or litert "
                                                     "(repeatable; default: every one that loads here)."),
    max_queue: int = typer.Option(256, "--max-queue", parser=Number(int, min=1), help="Requests allowed to wait."),
) -> None:
    """Serve this host's runtime to remote `connection: agent` device profiles (token-protected HTTP)."""
    from dcnas_deploy.agent.cli import main

    if token_file is not None and token_file.is_dir():
        from dcnas_deploy.cli.common import fail

        raise fail(f"--token-file {token_file} is a folder: give the path of the token file (created if missing)")
    argv = ["--host", host, "--port", str(port), "--max-upload-mb", str(max_upload_mb),
            "--timeout-s", str(timeout_s), "--max-queue", str(max_queue)]
    if token_file is not None:
        argv += ["--token-file", str(token_file)]
    for r in runtime or []:
        argv += ["--runtime", r]
    code = main(argv)
    if code:
        raise typer.Exit(code)


def register(app: typer.Typer) -> None:
    """Add `agent` to the CLI."""
    app.command("agent")(agent)
