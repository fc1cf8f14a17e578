"""The one way the project reads a torch file: tensors and plain containers, never code.

``torch.load`` with full unpickling runs whatever a file's pickle asks for, and users load
checkpoints from strangers' links. Every checkpoint the project reads (``model.checkpoint``,
the automatic resume from ``last.pt``, ``lsat predict --model``, run.py) goes through
:func:`safe_torch_load`, which unpickles with ``weights_only=True`` and never falls back.
Official openvqa/TRAR ``epochN.pkl`` files (``state_dict``, ``optimizer``, ``lr_base``,
``epoch``) and our own checkpoints need nothing beyond torch's default allow-list, so
:data:`EXTRA_SAFE_GLOBALS` is empty; a file that needs any other Python global is refused
with one error naming the file and the global.
"""

from __future__ import annotations

import pickle
import re
from pathlib import Path
from typing import Any

import torch

from lsat.errors import LsatError

# Types beyond torch's weights-only defaults that legitimate checkpoints need (none today).
EXTRA_SAFE_GLOBALS: tuple[Any, ...] = ()

_GLOBAL_RE = re.compile(r"(?:GLOBAL|Unsupported global:?)\s+([\w.]+)")


def safe_torch_load(path: str | Path, what: str = "checkpoint") -> Any:
    """``torch.load(path, weights_only=True)`` on the CPU with one clear error per failure.

    Raises :class:`LsatError` for a missing or empty file, a file that is not a torch
    file, and a file whose unpickling would need a Python global outside the allow-list
    (named in the message; nothing of the file is executed).
    """
    p = Path(path)
    if not p.is_file():
        raise LsatError(f"{what} not found: {p}")
    if p.stat().st_size == 0:
        raise LsatError(f"{what} {p} is empty (0 bytes): an interrupted copy or download?")
    try:
        with torch.serialization.safe_globals(list(EXTRA_SAFE_GLOBALS)):
            return torch.load(p, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        refused = _refused_global(p, str(err))
        if refused:
            raise LsatError(
                f"{what} {p} refused: loading it would need the Python global {refused!r}, "
                "and only tensors and plain containers are loaded (a file that asks for "
                "other objects can run code). Re-save its weights with "
                "torch.save({'state_dict': model.state_dict(), ...}) from code you trust"
            ) from None
        raise LsatError(f"{what} {p} cannot be read: {_first_line(err)}") from None
    except Exception as err:  # torch raises many types for a damaged or foreign file
        raise LsatError(f"{what} {p} cannot be read: {_first_line(err)}") from None


def _refused_global(path: Path, message: str) -> str | None:
    """The global a weights-only load refused, from torch's message or the pickle itself."""
    match = _GLOBAL_RE.search(message)
    if match:
        return match.group(1)
    try:  # lists GLOBAL opcodes without executing anything
        names = torch.serialization.get_unsafe_globals_in_checkpoint(path)
    except Exception:
        return None
    return names[0] if names else None


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__
