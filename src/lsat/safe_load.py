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

import hashlib
import os
import pickle
import re
import zipfile
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


class CheckpointDamaged(LsatError):
    """A checkpoint whose content no longer matches the checksum written with it."""


def content_digest(obj: Any) -> str:
    """sha256 over a checkpoint's content: every tensor's bytes, dtype and shape, and every
    plain value, in order. Stored in the file at save and recomputed at load, it catches
    damaged bytes that still unpickle (a flipped bit in a weight, a truncated copy
    patched up by a tool), which torch itself does not check."""
    h = hashlib.sha256()
    _feed(h, obj)
    return h.hexdigest()


def _feed(h: Any, obj: Any) -> None:
    if isinstance(obj, torch.Tensor):
        t = obj.detach().cpu().contiguous()
        h.update(f"T{t.dtype}{tuple(t.shape)}|".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().data)
    elif isinstance(obj, dict):
        h.update(f"D{len(obj)}|".encode())
        for key, value in obj.items():
            _feed(h, key)
            _feed(h, value)
    elif isinstance(obj, (list, tuple)):
        h.update(f"{type(obj).__name__}{len(obj)}|".encode())
        for value in obj:
            _feed(h, value)
    else:
        h.update(f"{type(obj).__name__}:{obj!r}|".encode())


DIGEST_KEY = "sha256"


def with_digest(payload: dict[str, Any]) -> dict[str, Any]:
    """``payload`` plus its :func:`content_digest` under :data:`DIGEST_KEY`."""
    body = {k: v for k, v in payload.items() if k != DIGEST_KEY}
    return {**body, DIGEST_KEY: content_digest(body)}


def verify_digest(ckpt: dict[str, Any], path: str | Path) -> bool:
    """Check the digest a checkpoint was written with; False when it has none (official
    files, older lsat files). Raises :class:`CheckpointDamaged` on a mismatch."""
    stored = ckpt.get(DIGEST_KEY)
    if stored is None:
        return False
    body = {k: v for k, v in ckpt.items() if k != DIGEST_KEY}
    if content_digest(body) != stored:
        raise CheckpointDamaged(
            f"checkpoint {path} is damaged: its content does not match the sha256 written "
            "with it (changed or corrupted after it was saved)"
        )
    return True


# Entries of a .pt2 archive that torch.export.load unpickles without any restriction.
_PICKLED_PT2_ENTRIES = ("custom_obj_", "opaque_obj_")


def safe_export_load(path: str | Path, what: str = "export model") -> Any:
    """``torch.export.load`` without code execution: the archive's pickled weights and
    constants are read weights-only (torch.export.load itself asks for full unpickling),
    and archives holding pickled Python objects are refused before anything is read."""
    p = Path(path)
    try:
        with zipfile.ZipFile(p) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError) as err:
        raise LsatError(f"{what} {p} is not a .pt2 archive: {err}") from None
    pickled = [n for n in names if Path(n).name.startswith(_PICKLED_PT2_ENTRIES)]
    if pickled:
        raise LsatError(
            f"{what} {p} refused: {pickled[0]} is a pickled Python object, which could run "
            "code when loaded; export a backbone of tensors and torch operators only"
        )
    saved = {k: os.environ.pop(k, None) for k in _FORCE_ENV}
    os.environ["TORCH_FORCE_WEIGHTS_ONLY_LOAD"] = "1"  # overrides weights_only=False inside
    try:
        return torch.export.load(str(p))
    except pickle.UnpicklingError as err:
        refused = _GLOBAL_RE.search(str(err))
        name = f"the Python global {refused.group(1)!r}" if refused else "Python objects"
        raise LsatError(
            f"{what} {p} refused: loading it would need {name}, and only tensors and plain "
            "containers are loaded (a file that asks for other objects can run code)"
        ) from None
    except Exception as err:  # torch raises many types for a bad archive
        raise LsatError(f"cannot load {p} with torch.export.load: {_first_line(err)}") from None
    finally:
        for key, value in saved.items():
            os.environ.pop(key, None)
            if value is not None:
                os.environ[key] = value


_FORCE_ENV = ("TORCH_FORCE_WEIGHTS_ONLY_LOAD", "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD")
