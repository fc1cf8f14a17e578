"""Does a feature bank fit? The memory a process may still use, from every limit that binds.

``feature_residency: ram``/``gpu`` holds a split's features in one float16 bank (21.7 GB for
VQA-v2's train2014). Allocating it past the limit gives a raw ``MemoryError`` traceback or,
under Slurm or a container, a silent OOM kill minutes into the run. So the bank's size is
compared first with the smallest of: ``MemAvailable`` (``/proc/meminfo``), the cgroup's
``memory.max`` (v2) or ``memory.limit_in_bytes`` (v1) less its current usage, and the Slurm
job's ``--mem`` (``SLURM_MEM_PER_NODE``, or ``SLURM_MEM_PER_CPU`` × CPUs) less this
process's resident size. ``train.residency_fallback`` decides what happens when it does
not fit: ``disk`` (read batches from the HDF5 file, with a warning) or ``error``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from lsat.errors import LsatError

if TYPE_CHECKING:
    import torch

FALLBACKS = ("disk", "error")
# Room kept beside the bank: the model, optimizer, activations and the other split's data.
_HEADROOM_FRACTION = 0.1
_HEADROOM_BYTES = 512 * 2**20
_UNLIMITED = 2**60


def _read_int(path: Path) -> int | None:
    try:
        text = path.read_text().split()[0]
    except (OSError, IndexError):
        return None
    return int(text) if text.isdigit() else None


def _meminfo_available() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _rss() -> int:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _cgroup_room(root: Path = Path("/sys/fs/cgroup")) -> int | None:
    """Bytes left under this process's cgroup memory limit (v2 or v1), None if unlimited."""
    try:
        entries = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        entries = []
    for entry in entries:
        parts = entry.split(":", 2)
        if len(parts) == 3 and parts[0] == "0":  # v2: 0::/path
            folder = root / parts[2].lstrip("/")
            limit = _read_int(folder / "memory.max")
            used = _read_int(folder / "memory.current")
            if limit is not None and limit < _UNLIMITED:
                return max(limit - (used or 0), 0)
    limit = _read_int(root / "memory" / "memory.limit_in_bytes")
    used = _read_int(root / "memory" / "memory.usage_in_bytes")
    if limit is not None and limit < _UNLIMITED:
        return max(limit - (used or 0), 0)
    return None


def _slurm_room(env: dict[str, str]) -> int | None:
    """Bytes left under the Slurm job's --mem / --mem-per-cpu (values in MB), None if unset."""
    mb = env.get("SLURM_MEM_PER_NODE", "")
    if not mb.isdigit() and env.get("SLURM_MEM_PER_CPU", "").isdigit():
        cpus = env.get("SLURM_CPUS_ON_NODE") or env.get("SLURM_CPUS_PER_TASK") or "1"
        mb = str(int(env["SLURM_MEM_PER_CPU"]) * int(cpus if cpus.isdigit() else 1))
    if not mb.isdigit() or int(mb) == 0:  # --mem=0: all of the node's memory
        return None
    return max(int(mb) * 2**20 - _rss(), 0)


def available_memory(env: dict[str, str] | None = None) -> tuple[int | None, str]:
    """(bytes this process may still allocate, which limit that is); None if unknown."""
    env = dict(os.environ) if env is None else env
    limits = [
        (_slurm_room(env), "the Slurm job's memory limit (SLURM_MEM_PER_NODE/_PER_CPU)"),
        (_cgroup_room(), "the cgroup's memory limit (memory.max)"),
        (_meminfo_available(), "MemAvailable in /proc/meminfo"),
    ]
    known = [(room, what) for room, what in limits if room is not None]
    if not known:
        return None, "unknown (no /proc/meminfo)"
    return min(known)


def gib(nbytes: float) -> str:
    return f"{nbytes / 2**30:.2f} GiB"


def bank_residency(nbytes: int, residency: str, fallback: str, what: str) -> str:
    """The residency to use for a bank of ``nbytes``: ``residency``, or ``disk`` when it does
    not fit and ``fallback`` is ``disk`` (a warning on stderr); ``error`` raises instead."""
    if residency == "disk":
        return residency
    if fallback not in FALLBACKS:
        raise LsatError(f"train.residency_fallback {fallback!r}: expected disk or error")
    room, limit = available_memory()
    need = nbytes * (1 + _HEADROOM_FRACTION) + _HEADROOM_BYTES
    if room is None or need <= room:
        return residency
    msg = (
        f"the features of {what} need {gib(nbytes)} in memory (feature_residency "
        f"{residency!r}; {gib(need)} with headroom) but only {gib(room)} is available "
        f"({limit})"
    )
    if fallback == "error":
        raise LsatError(
            f"{msg}: use train.feature_residency disk, more memory (e.g. Slurm "
            "resources.mem_mb), or train.residency_fallback disk"
        )
    print(
        f"lsat: warning: {msg}; reading them from disk instead (train.residency_fallback)",
        file=sys.stderr,
    )
    return "disk"


def fits_on_device(nbytes: int, device: torch.device, fallback: str) -> bool:
    """Whether a bank of ``nbytes`` fits in the GPU's free memory (with headroom for the
    model); if not, ``fallback`` ``disk`` keeps it in host RAM with a warning, ``error`` stops."""
    import torch

    if getattr(device, "type", "cpu") != "cuda" or not torch.cuda.is_available():
        return True
    free, _total = torch.cuda.mem_get_info(device)
    need = nbytes * (1 + _HEADROOM_FRACTION) + 4 * _HEADROOM_BYTES
    if need <= free:
        return True
    msg = (
        f"the feature bank needs {gib(nbytes)} on {device} ({gib(need)} with room for the "
        f"model) but only {gib(free)} of GPU memory is free"
    )
    if fallback == "error":
        raise LsatError(f"{msg}: use train.feature_residency ram or disk")
    print(f"lsat: warning: {msg}; keeping it in host memory (residency ram)", file=sys.stderr)
    return False
