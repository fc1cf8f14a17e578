"""Where an output came from: the ``provenance`` object of every metrics, model and result file.

A number in a paper is only believed when it can be traced to the exact code, data and
machine. Each metrics.json, val_metrics.json, checkpoint and result file's sidecar carries
one object with: the git commit (and whether the tree was dirty) of the code that ran, a
hash of the configuration, sha256 of the question/annotation files, the feature files'
content hashes (recorded once by ``lsat extract`` in the HDF5 attributes and read back here,
never recomputed per run), the vocabulary's and answer list's hashes, library versions,
device, host, Slurm job and start/end times. ``lsat provenance FILE``
(:mod:`lsat.provenance_show`) prints it.

The commit is that of the repository holding this package's source (``src/lsat``), not of
the working directory: a pipeline run from a copy of the workflow still names the code.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import platform
import socket
import subprocess
import sys
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any

from lsat import __version__

CODE_DIR = Path(__file__).resolve().parent
SLURM_KEYS = (
    "SLURM_JOB_ID",
    "SLURM_ARRAY_JOB_ID",
    "SLURM_ARRAY_TASK_ID",
    "SLURM_JOB_NODELIST",
    "SLURM_NTASKS",
    "SLURM_RESTART_COUNT",
)
_CHUNK = 1 << 20


def now() -> str:
    """The current time in UTC, ISO 8601 with seconds (what start/end record)."""
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


def _git(args: list[str], cwd: Path) -> str:
    proc = subprocess.run(
        ["git", "-C", str(cwd), *args], capture_output=True, text=True, timeout=30
    )
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr.strip() or f"git {' '.join(args)} failed")
    return proc.stdout


def code_version(code_dir: Path | None = None) -> dict[str, Any]:
    """{commit, dirty, reason} of the git repository holding the code (commit null outside git)."""
    where = Path(code_dir) if code_dir else CODE_DIR
    try:
        commit = _git(["rev-parse", "HEAD"], where).strip()
        # Untracked files count: an unadded new module changes what runs just as an edit.
        dirty = bool(_git(["status", "--porcelain"], where).strip())
    except FileNotFoundError:
        return {"commit": None, "dirty": None, "reason": "git is not installed"}
    except (RuntimeError, subprocess.TimeoutExpired) as err:
        reason = f"the code at {where} is not in a git repository ({err})"
        return {"commit": None, "dirty": None, "reason": reason}
    return {"commit": commit, "dirty": dirty, "lsat_version": __version__}


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(_CHUNK):
            h.update(block)
    return h.hexdigest()


@lru_cache(maxsize=256)
def _cached_sha256(path: str, size: int, mtime_ns: int) -> str:
    return sha256_file(path)


def file_hashes(paths: Iterable[str | os.PathLike[str] | None]) -> dict[str, str | None]:
    """{path: sha256} of each given file (null for a missing one), cached per process."""
    out: dict[str, str | None] = {}
    for p in paths:
        if p is None:
            continue
        path = Path(p)
        if not path.is_file():
            out[str(path)] = None
            continue
        st = path.stat()
        out[str(path)] = _cached_sha256(str(path.resolve()), st.st_size, st.st_mtime_ns)
    return out


def config_hash(config: Any) -> str:
    """sha256 of the configuration as canonical JSON (sorted keys)."""
    text = json.dumps(config, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def feature_hashes(paths: Iterable[str | os.PathLike[str]]) -> dict[str, str | None]:
    """{path: content hash recorded at extraction} (null for files that lack one)."""
    import h5py

    out: dict[str, str | None] = {}
    for p in paths:
        try:
            with h5py.File(p, "r") as f:
                value = f.attrs.get("content_sha256")
        except OSError:
            value = None
        if isinstance(value, bytes):
            value = value.decode()
        out[str(p)] = None if value is None else str(value)
    return out


def versions() -> dict[str, Any]:
    """Python and the libraries that decide the numbers."""
    import h5py
    import numpy
    import torch

    cudnn = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
    return {
        "python": platform.python_version(),
        "torch": str(torch.__version__),  # TorchVersion is not a plain str (weights_only)
        "cuda": None if torch.version.cuda is None else str(torch.version.cuda),
        "cudnn": None if cudnn is None else int(cudnn),
        "numpy": str(numpy.__version__),
        "h5py": str(h5py.__version__),
        "lsat": __version__,
    }


def cpu_info(field: str) -> str | None:
    """The first ``field`` of /proc/cpuinfo (``model name``, ``vendor_id``); None off Linux."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(field):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def _cpu_name() -> str:
    return cpu_info("model name") or platform.processor() or platform.machine()


def device_name(device: Any = None) -> str:
    """The accelerator the run used (GPU name) or the CPU model."""
    import torch

    dev = torch.device(device) if device is not None else None
    if dev is not None and dev.type == "cuda" and torch.cuda.is_available():
        return torch.cuda.get_device_name(dev)
    return f"CPU: {_cpu_name()}"


def slurm() -> dict[str, str] | None:
    """The Slurm job this process runs in (null outside Slurm)."""
    found = {k.lower()[6:]: os.environ[k] for k in SLURM_KEYS if k in os.environ}
    return found or None


def collect(
    *,
    config: Any = None,
    data_files: Iterable[str | os.PathLike[str] | None] = (),
    features: Iterable[str | os.PathLike[str]] = (),
    vocab: str | os.PathLike[str] | None = None,
    answers: str | os.PathLike[str] | None = None,
    device: Any = None,
    start: str | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The provenance object; ``end`` is filled by :func:`finish` when the output is written."""
    vocab_files = file_hashes([vocab, answers])
    prov: dict[str, Any] = {
        "code": code_version(),
        "config_sha256": None if config is None else config_hash(config),
        "data": file_hashes(data_files),
        "features": feature_hashes(features),
        "vocab_sha256": vocab_files.get(str(vocab)) if vocab else None,
        "answers_sha256": vocab_files.get(str(answers)) if answers else None,
        "versions": versions(),
        "device": device_name(device),
        "host": socket.gethostname(),
        "slurm": slurm(),
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "start": start or now(),
        "end": None,
    }
    if extra:
        prov.update(extra)
    return prov


def finish(prov: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``prov`` with ``end`` set to now (call when the output is written)."""
    return {**prov, "end": now()}


def sidecar_path(path: str | os.PathLike[str]) -> Path:
    """``result_test.json`` → ``result_test.provenance.json`` (result files stay official)."""
    p = Path(path)
    return p.with_name(f"{p.stem}.provenance.json")
