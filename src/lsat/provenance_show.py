"""``lsat provenance FILE``: print where a metrics, model, result or feature file came from.

The reading side of :mod:`lsat.provenance`, kept apart from it: recording sits at the
foundation (the engine stamps every output), while reading opens checkpoints through
:mod:`lsat.engine.checkpoint` (their checksum is verified) and so sits above the engine.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from lsat.errors import LsatError
from lsat.io import read_json
from lsat.provenance import sidecar_path


def read(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The provenance of a metrics file, checkpoint, result file (its sidecar) or feature file."""
    p = Path(path)
    if not p.exists():
        raise LsatError(f"no such file: {p}")
    if p.suffix in (".h5", ".hdf5"):
        return _feature_provenance(p)
    if p.suffix in (".pt", ".pkl", ".pth"):
        from lsat.engine import checkpoint as ckpt_io

        found = ckpt_io.load(p).get("provenance")
    else:
        data = read_json(p, "file")
        found = data.get("provenance") if isinstance(data, dict) else None
        if isinstance(data, dict) and found is None and "code" in data:
            found = data  # a sidecar holds the object itself
        if found is None and sidecar_path(p).is_file():
            found = read_json(sidecar_path(p), "provenance sidecar")
    if not isinstance(found, dict):
        raise LsatError(
            f"{p} has no provenance (written before provenance was recorded, or not by lsat)"
        )
    return found


def _feature_provenance(p: Path) -> dict[str, Any]:
    import h5py

    try:
        with h5py.File(p, "r") as f:
            attrs = {k: f.attrs[k] for k in f.attrs}
    except OSError as err:
        raise LsatError(f"{p} is not a readable HDF5 file: {err}") from None
    out = {}
    for k, v in sorted(attrs.items()):
        v = v.decode() if isinstance(v, bytes) else v
        out[k] = v.item() if hasattr(v, "item") else v
    return out


def format_text(prov: dict[str, Any], indent: int = 0) -> str:
    """Readable ``key: value`` lines, nested mappings indented, paths one per line."""
    lines = []
    pad = "  " * indent
    width = max((len(str(k)) for k in prov), default=0)
    for key, value in prov.items():
        if isinstance(value, dict) and value:
            lines.append(f"{pad}{key}:")
            lines.append(format_text(value, indent + 1))
        else:
            shown = "-" if value is None or value == {} else value
            lines.append(f"{pad}{str(key) + ':':<{width + 1}} {shown}")
    return "\n".join(lines)


def _run(args: Any) -> int:
    for i, path in enumerate(args.files):
        prov = read(path)
        if args.json:
            print(json.dumps(prov, indent=2))
            continue
        if len(args.files) > 1:
            print(("\n" if i else "") + f"== {path}")
        print(format_text(prov))
    return 0


def register(subparsers: Any) -> None:
    """Add ``lsat provenance`` to the command line."""
    p = subparsers.add_parser(
        "provenance",
        help="print where a metrics, model, result or feature file came from",
    )
    p.add_argument("files", nargs="+", type=Path, help="metrics.json, model.pt, result JSON, .h5")
    p.add_argument("--json", action="store_true", help="print the raw JSON object")
    p.set_defaults(func=_run)
