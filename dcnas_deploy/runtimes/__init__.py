"""Runtimes: backends (convert, load, run, time), device profiles and device connections."""
