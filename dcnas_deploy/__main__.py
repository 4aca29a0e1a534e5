"""`python -m dcnas_deploy ...`: the `dcnas-deploy` CLI, e.g. under torchrun:

    torchrun --nproc_per_node 2 -m dcnas_deploy train-supernet --preset demo --out runs/demo-ddp
"""
from dcnas_deploy.cli.main import app

if __name__ == "__main__":
    app(prog_name="dcnas-deploy")
