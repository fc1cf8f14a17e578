"""Checkpoints that lose nothing, written atomically.

A checkpoint is a superset of the official openvqa/TRAR one (``state_dict``, ``optimizer``,
``lr_base``, ``epoch``), so its weights load wherever an official checkpoint does, plus what
an exact resume needs: the step inside the epoch (non-zero only for an interrupt
checkpoint), the random states of every rank (torch, CUDA, numpy, python), the data-order
seed, the AMP scaler, the metrics so far and a hash of the settings that shape the result
(a resume under different settings is refused). Each file carries a sha256 of its content
(:func:`lsat.safe_load.content_digest`), checked at every load.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import random
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lsat.errors import LsatError
from lsat.io import atomic_path
from lsat.safe_load import CheckpointDamaged, safe_torch_load, verify_digest, with_digest

FORMAT = "lsat-checkpoint-2"


def rng_state() -> dict[str, Any]:
    """Every random state of this process."""
    legacy = np.random.get_state(legacy=True)  # always the tuple; the stubs also allow a dict
    assert isinstance(legacy, tuple)
    kind, keys, pos, has_gauss, gauss = legacy
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        # Plain values and a tensor, so a weights-only load reads it (no numpy pickles).
        "numpy": (kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, gauss),
        "python": random.getstate(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        # This process's own device only: every rank saves its state, and a run resumed
        # with fewer visible GPUs must not be handed one state per GPU it no longer sees.
        state["cuda"] = torch.cuda.get_rng_state(torch.cuda.current_device())
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    kind, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), pos, has_gauss, gauss))
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        _set_cuda_rng(state["cuda"])


def _set_cuda_rng(saved: Any) -> None:
    """Restore the current device's generator from one state (or, from checkpoints of
    earlier versions, the list of every visible GPU's: the current device's entry, if any)."""
    device = torch.cuda.current_device()
    if isinstance(saved, (list, tuple)):
        if device >= len(saved):
            return
        saved = saved[device]
    torch.cuda.set_rng_state(saved, device)


def settings_hash(settings: dict[str, Any]) -> str:
    """Stable hash of the settings a resumed run must share with the interrupted one."""
    text = json.dumps(settings, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def save(path: Path, payload: dict[str, Any]) -> None:
    """``torch.save`` to a temporary file renamed onto ``path``."""
    body = with_digest({"format": FORMAT, **payload})
    # Through a Python file, so a full disk surfaces as OSError(ENOSPC) (torch writing to a
    # path only says "unexpected pos"); atomic_path then names the disk and the path.
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        torch.save(body, f)
        f.flush()
        os.fsync(f.fileno())


def load(path: Path) -> dict[str, Any]:
    """Load a checkpoint on the CPU (tensors and plain containers only, never code)."""
    ckpt = safe_torch_load(path)
    if isinstance(ckpt, dict) and not verify_digest(ckpt, path):
        if ckpt.get("format") == FORMAT:
            raise CheckpointDamaged(f"checkpoint {path} is damaged: its sha256 is missing")
        if "format" in ckpt:
            warnings.warn(f"{path} was written without a checksum: not verified", stacklevel=2)
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt:
        raise LsatError(f"checkpoint {path} has no 'state_dict': not a model checkpoint")
    return ckpt


def extension(old: Any, new: dict[str, Any], ck: dict[str, Any]) -> str | None:
    """A log note when ``new`` settings only lengthen the run of checkpoint ``ck``, else None.

    Lengthening means a larger ``train.max_epoch`` and an ``lr_decay_list`` whose points up
    to the last epoch the checkpoint trained (even partly) are unchanged; points beyond may
    be added. Every other setting must be equal. (TRAR's hard-routing τ anneals towards the
    new ``max_epoch`` from then on, so such a run differs from a fresh longer one there.)
    """
    if not isinstance(old, dict) or not isinstance(old.get("train"), dict):
        return None
    o, n = copy.deepcopy(old), copy.deepcopy(new)
    o_max, n_max = o["train"].pop("max_epoch", None), n["train"].pop("max_epoch", None)
    o_decay = o["train"].pop("lr_decay_list", None) or []
    n_decay = n["train"].pop("lr_decay_list", None) or []
    if o_max is None or n_max is None or n_max <= o_max or settings_hash(o) != settings_hash(n):
        return None
    reached = int(ck["epoch"]) - 1 + (1 if ck.get("step") else 0)
    if [d for d in o_decay if d <= reached] != [d for d in n_decay if d <= reached]:
        return None
    return f"extended: max_epoch {o_max} -> {n_max}, lr_decay_list {o_decay} -> {n_decay}"
