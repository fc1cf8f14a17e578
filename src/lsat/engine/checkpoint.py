"""Checkpoints that lose nothing, written atomically.

A checkpoint is a superset of the official openvqa/TRAR one (``state_dict``, ``optimizer``,
``lr_base``, ``epoch``), so its weights load wherever an official checkpoint does, plus what
an exact resume needs: the step inside the epoch (non-zero only for an interrupt
checkpoint), the random states of every rank (torch, CUDA, numpy, python), the data-order
seed, the AMP scaler, the metrics so far and a hash of the settings that shape the result
(a resume under different settings is refused).
"""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lsat.errors import LsatError
from lsat.io import atomic_path
from lsat.safe_load import safe_torch_load

FORMAT = "lsat-checkpoint-1"


def rng_state() -> dict[str, Any]:
    """Every random state of this process."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        # Plain values and a tensor, so a weights-only load reads it (no numpy pickles).
        "numpy": (kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, gauss),
        "python": random.getstate(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    kind, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), pos, has_gauss, gauss))
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def settings_hash(settings: dict[str, Any]) -> str:
    """Stable hash of the settings a resumed run must share with the interrupted one."""
    text = json.dumps(settings, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def save(path: Path, payload: dict[str, Any]) -> None:
    """``torch.save`` to a temporary file renamed onto ``path``."""
    with atomic_path(path) as tmp:
        torch.save({"format": FORMAT, **payload}, tmp)


def load(path: Path) -> dict[str, Any]:
    """Load a checkpoint on the CPU (tensors and plain containers only, never code)."""
    ckpt = safe_torch_load(path)
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt:
        raise LsatError(f"checkpoint {path} has no 'state_dict': not a model checkpoint")
    return ckpt
