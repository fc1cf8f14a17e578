"""``lsat summary``: the results table printed at the end of the demo (filled by the workflow work)."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``lsat summary`` to the command line."""
