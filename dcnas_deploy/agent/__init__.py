"""Device-side measurement agent: a small token-protected HTTP server that times model files.

Runs on the host a device hangs off (an NCS2 on OpenVINO 2022.3, a Raspberry Pi with LiteRT, a
Jetson with onnxruntime-gpu): Python 3.8+, numpy and one runtime; never torch, typer or rich.
Start it with ``python -m dcnas_deploy.agent`` (or ``dcnas-deploy agent`` where the full package is
installed); the host reaches it through ``connection: {kind: agent, ...}`` in a device profile.
"""
