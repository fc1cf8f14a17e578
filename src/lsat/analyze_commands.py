"""``lsat analyze``'s command line, apart from :mod:`lsat.analyze`.

Building the ``lsat`` parser imports every command module; :mod:`lsat.analyze` imports
torch (1.5 CPU s), which ``lsat validate-result`` or ``lsat --help`` should not pay for.
"""

from __future__ import annotations

import argparse


def _run(args: argparse.Namespace) -> int:
    from lsat.analyze import analyze_run

    written = analyze_run(
        args.config, args.dataset, args.split, args.run, args.qid, args.examples, args.out
    )
    for name, path in written.items():
        print(f"lsat analyze: {name}: {path} (+ {path.with_suffix('.json').name})")
    if not written:
        print("lsat analyze: nothing to draw for this model")
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``lsat analyze`` to the command line."""
    p = subparsers.add_parser(
        "analyze", help="TRAR routing, LSAT gates and image attention figures of a trained run"
    )
    p.add_argument("--config", default="config/config.yaml")
    p.add_argument("--dataset", required=True)
    p.add_argument("--split", required=True)
    p.add_argument("--run", default=None, help="seed/sweep run id (see lsat train --run)")
    p.add_argument("--qid", type=int, action="append", help="val question id to draw (repeatable)")
    p.add_argument("--examples", type=int, default=4, help="questions drawn without --qid")
    p.add_argument("--out", default=None, help="folder (default: the run's analysis/)")
    p.set_defaults(func=_run)
