"""The `griddispatch` command line."""

from dispatcher.cli.main import main

__all__ = ["main"]
