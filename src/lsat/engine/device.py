"""Train settings that depend on the device: the GPU defaults and the process switches.

``amp: auto``, ``deterministic: null`` and ``tf32: null`` mean "what suits the device":
bf16 autocast, TF32 and the fast non-deterministic kernels on a GPU, plain fp32 and
deterministic algorithms on the CPU (where they are cheap and the demo's figures are
reproducible). On a GPU deterministic algorithms fill new allocations with NaN, pick
sort-based kernels and shrink the cuBLAS workspace, and the result is still not
bit-exact, so they are used only when asked for. The settings hash of a run is taken from
the config as written (``auto`` stays ``auto``), so a run resumes on either device.
"""

from __future__ import annotations

from typing import Any

import torch


def resolve_train(train: dict[str, Any], device: torch.device) -> dict[str, Any]:
    """A copy of ``train`` with ``amp``, ``deterministic`` and ``tf32`` set for ``device``."""
    out = dict(train)
    gpu = device.type == "cuda"
    if out.get("amp", "auto") == "auto":
        out["amp"] = "bf16" if gpu else "none"
    if out.get("deterministic") is None:
        out["deterministic"] = not gpu
    if out.get("tf32") is None:
        out["tf32"] = gpu and not out["deterministic"]
    return out


def configure_device(train: dict[str, Any], device: torch.device) -> None:
    """Apply the resolved ``tf32`` and ``deterministic`` switches for a CUDA ``device``."""
    if device.type != "cuda":
        return
    tf32 = bool(train["tf32"])
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32
    torch.set_float32_matmul_precision("high" if tf32 else "highest")
    # cuDNN's autotuner picks the fastest convolution per shape; it is off when asked for
    # reproducibility (seed_everything also turns it off then).
    torch.backends.cudnn.benchmark = not train["deterministic"]


def autocast_dtype(amp: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype of a resolved ``amp`` on ``device`` (None: no autocast)."""
    if amp == "bf16" and device.type in ("cuda", "cpu"):
        return torch.bfloat16
    if amp == "fp16" and device.type == "cuda":
        return torch.float16
    return None
