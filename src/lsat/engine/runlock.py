"""One writer per run folder: an OS lock held by training and by prediction into it.

Two trainings on one folder used to overwrite each other's checkpoints, both exiting 0. The
lock is ``flock`` on a small file beside the checkpoints, holding ``pid <pid> on <host>``:
the kernel releases it when its process dies however it dies (kill -9, OOM, node reboot),
so a lock left by a dead process is simply taken over, and a second live process gets one
error naming the holder. The file itself is never deleted (deleting it would let two
processes lock two different files of one name). Within one process the lock is reentrant.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import socket
import warnings
from collections.abc import Iterator
from pathlib import Path

from lsat.errors import LsatError

_HELD: dict[str, int] = {}  # lock path → open descriptor, for reentrancy


class RunLocked(LsatError):
    """Another live process holds the run folder's lock."""


@contextlib.contextmanager
def run_lock(path: str | os.PathLike[str], what: str) -> Iterator[None]:
    """Hold the lock file ``path`` of ``what`` (e.g. "run folder results/demo/train")."""
    key = str(Path(path).resolve())
    if key in _HELD:
        yield
        return
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(p, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        if not _acquire(fd, p, what):
            yield  # a file system without locks: warned, run unlocked
            return
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()}\n".encode(), 0)
        _HELD[key] = fd
        try:
            yield
        finally:
            del _HELD[key]
    finally:
        os.close(fd)  # releases the lock


def _acquire(fd: int, path: Path, what: str) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "pid unknown"
        raise RunLocked(
            f"{what} is in use by another process ({holder}; lock {path}): wait for it to "
            "finish or stop it; two writers would overwrite each other's files"
        ) from None
    except OSError as err:
        if err.errno not in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS):
            raise
        warnings.warn(f"{path}: file locks unsupported here ({err}); not locked", stacklevel=3)
        return False
    return True
