"""Portable ops, the weight-sharing Supernet and plain SubNets (never imports runtimes or the CLI)."""
from dcnas_deploy.model.bicubic import BicubicUpsample
from dcnas_deploy.model.blocks import MobileBlock
from dcnas_deploy.model.subnet import SubNet
from dcnas_deploy.model.supernet import Supernet

__all__ = ["BicubicUpsample", "MobileBlock", "SubNet", "Supernet"]
