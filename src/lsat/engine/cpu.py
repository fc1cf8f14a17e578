"""Process settings that make CPU training and prediction fast.

PyTorch's CPU allocator is glibc ``malloc``, which serves every tensor above its mmap
threshold (at most 32 MiB) with a fresh ``mmap`` and hands it back on free. A training step
of the paper model allocates and frees gigabytes of such activations, so each step pays
hundreds of thousands of page faults (kernel zero-fill, expensive in a VM), a large share of
the step (benchmarks/RESULTS.md, "Training throughput, paper configuration"). Serving
everything from the heap and never trimming it keeps the pages mapped from one step to the
next; the process's footprint stays at its peak, which a training process reaches in its
first step anyway.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import sys
from typing import Any

import torch

# mallopt(3) parameters, from glibc's <malloc.h>.
_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
_GLIBC_MMAP_MAX = 65536
_GLIBC_TRIM_THRESHOLD = 128 * 1024
_NEVER_TRIM = 2**31 - 1


@functools.cache
def _glibc() -> Any | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.gnu_get_libc_version  # noqa: B018  (absent on musl: no mallopt knobs to turn)
    except (OSError, AttributeError):
        return None
    return libc


def retain_freed_memory(enabled: bool = True) -> bool:
    """Keep freed tensor memory mapped (or restore glibc's defaults); False if unsupported."""
    libc = _glibc()
    if libc is None:
        return False
    mmap_max, trim = (0, _NEVER_TRIM) if enabled else (_GLIBC_MMAP_MAX, _GLIBC_TRIM_THRESHOLD)
    return bool(libc.mallopt(_M_MMAP_MAX, mmap_max)) and bool(libc.mallopt(_M_TRIM_THRESHOLD, trim))


def configure_cpu(cpu_threads: int | None, device: torch.device) -> None:
    """For work on the CPU: apply ``train.cpu_threads`` and :func:`retain_freed_memory`.

    A GPU run keeps torch's thread default: its host threads gather batches and launch
    kernels, and one thread (the demo configs' CPU setting) would starve them.
    """
    if device.type != "cpu":
        return
    if cpu_threads:
        torch.set_num_threads(int(cpu_threads))
    retain_freed_memory()
