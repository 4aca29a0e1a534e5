"""`dcnas-deploy agent`: run the device-side measurement agent (same as `python -m dcnas_deploy.agent`)."""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

RUNTIMES = ("onnxruntime", "openvino", "litert")


def agent(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind (loopback unless told; plain HTTP)."),
    port: int = typer.Option(8765, "--port", help="TCP port (0 picks a free one)."),
    token_file: Optional[Path] = typer.Option(None, "--token-file",
                                              help="Shared token file (made, mode 0600, if missing)."),
    max_upload_mb: float = typer.Option(256.0, "--max-upload-mb", help="Largest request body in MB."),
    timeout_s: float = typer.Option(300.0, "--timeout-s",
                                    help="Longest load+measure time per model before its runtime is killed."),
    runtime: Optional[List[str]] = typer.Option(None, "--runtime",
                                                help="Runtime to serve: onnxruntime, openvino or litert "
                                                     "(repeatable; default: every one that loads here)."),
    max_queue: int = typer.Option(256, "--max-queue", help="Requests allowed to wait."),
) -> None:
    """Serve this host's runtime to remote `connection: agent` device profiles (token-protected HTTP)."""
    from dcnas_deploy.agent.cli import main
    from dcnas_deploy.cli.common import fail

    bad = [r for r in runtime or [] if r not in RUNTIMES]
    if bad:
        raise fail(f"unknown runtime(s) {bad}; expected one of {list(RUNTIMES)}")
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
