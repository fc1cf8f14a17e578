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

import dataclasses

import torch

from lsat.settings import TrainSettings


def resolve_train(train: TrainSettings, device: torch.device) -> TrainSettings:
    """A copy of ``train`` with ``amp``, ``deterministic`` and ``tf32`` set for ``device``."""
    gpu = device.type == "cuda"
    amp = ("bf16" if gpu else "none") if train.amp == "auto" else train.amp
    deterministic = not gpu if train.deterministic is None else train.deterministic
    tf32 = gpu and not deterministic if train.tf32 is None else train.tf32
    return dataclasses.replace(train, amp=amp, deterministic=deterministic, tf32=tf32)


def configure_device(train: TrainSettings, device: torch.device) -> None:
    """Apply the resolved ``tf32`` and ``deterministic`` switches for a CUDA ``device``."""
    if device.type != "cuda":
        return
    tf32 = bool(train.tf32)
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32
    torch.set_float32_matmul_precision("high" if tf32 else "highest")
    # cuDNN's autotuner picks the fastest convolution per shape; it is off when asked for
    # reproducibility (seed_everything also turns it off then).
    torch.backends.cudnn.benchmark = not train.deterministic


def autocast_dtype(amp: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype of a resolved ``amp`` on ``device`` (None: no autocast)."""
    if amp == "bf16" and device.type in ("cuda", "cpu"):
        return torch.bfloat16
    if amp == "fp16" and device.type == "cuda":
        return torch.float16
    return None
