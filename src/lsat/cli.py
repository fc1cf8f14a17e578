"""``lsat <command>``: the one entry point every Snakemake rule, DVC stage and run.py uses.

Each package contributes its commands through a ``register(subparsers)`` function in its
``commands`` module; handlers import heavy libraries (torch, h5py) lazily so that
``lsat --help`` stays instant. A :class:`~lsat.errors.LsatError` becomes one line on stderr
and exit status 2 — never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from lsat import __version__
from lsat.errors import LsatError

COMMAND_MODULES = (
    "lsat.data.commands",
    "lsat.features.commands",
    "lsat.engine.commands",
    "lsat.summary",
    "lsat.provenance_show",
    "lsat.dvcgen",
    "lsat.analyze_commands",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lsat",
        description="Train, evaluate and reproduce grid-feature VQA transformers.",
    )
    parser.add_argument("--version", action="version", version=f"lsat {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except LsatError as err:
        print(f"lsat {args.command}: error: {err}", file=sys.stderr)
        if getattr(err, "hard_exit", False):  # HDF5 would crash shutting down (disk full)
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(2)
        return 2
    except KeyboardInterrupt:
        print(f"lsat {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
