"""Command-line front-ends of this package (registered by ``lsat.cli``)."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add this package's subcommands to ``lsat``."""
