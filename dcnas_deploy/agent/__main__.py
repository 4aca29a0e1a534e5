"""`python -m dcnas_deploy.agent`: run the measurement agent (no torch, typer or rich needed)."""
import sys

from dcnas_deploy.agent.cli import main

if __name__ == "__main__":
    sys.exit(main())
