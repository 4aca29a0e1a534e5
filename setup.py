"""Packaging of what pyproject.toml cannot say: the top-level data folders shipped inside the package.

`devices/`, `profiles/` and `luts/` stay at the repository's top level (the documented layout) and are
installed as `dcnas_deploy/shipped/<folder>`, where dcnas_deploy.datadirs reads them with
importlib.resources when the package does not run from a source checkout. The shipped pretrained models
(`dcnas_deploy/pretrained/<name>/`) are package data of dcnas_deploy.pretrained.
"""
from setuptools import find_packages, setup

SHIPPED = {"devices": ["*.yaml"], "profiles": ["*.yaml"], "luts": ["*.yaml", "*.md", "*.png"]}

setup(
    packages=find_packages(include=["dcnas_deploy", "dcnas_deploy.*"]) + [f"dcnas_deploy.shipped.{d}" for d in SHIPPED],
    package_dir={f"dcnas_deploy.shipped.{d}": d for d in SHIPPED},
    package_data={"dcnas_deploy": ["py.typed"], "dcnas_deploy.pretrained": ["*/*.yaml", "*/*.pt", "*/*.png"], **{f"dcnas_deploy.shipped.{d}": g for d, g in SHIPPED.items()}},
)
