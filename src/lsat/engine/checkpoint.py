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

FORMAT = "lsat-checkpoint-1"


def rng_state() -> dict[str, Any]:
    """Every random state of this process."""
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": np.random.get_state(),
        "python": random.getstate(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
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
    """Load a checkpoint on the CPU with one clear error for a missing or foreign file."""
    if not Path(path).is_file():
        raise LsatError(f"checkpoint not found: {path}")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:  # torch raises many types for a corrupt file
        raise LsatError(f"checkpoint {path} cannot be read: {err}") from None
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt:
        raise LsatError(f"checkpoint {path} has no 'state_dict': not a model checkpoint")
    return ckpt
