"""`python -m dcnas_deploy.train [train-supernet options]` — the entry for torchrun:

    torchrun --nproc_per_node 2 -m dcnas_deploy.train --profile demo --out runs/demo-ddp
"""
import typer

from dcnas_deploy.cli.common import user_errors
from dcnas_deploy.cli.train_cmds import train_supernet_cmd

if __name__ == "__main__":
    typer.run(user_errors(train_supernet_cmd))
