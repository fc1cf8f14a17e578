"""Atomic file output and JSON input with errors that name the file.

Every output of the project is written to a temporary file in the destination folder and
renamed into place, so a killed process never leaves a file that looks complete.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lsat.errors import LsatError


class DiskFull(LsatError):
    """No space left on the device while writing; the file being replaced is unchanged.

    ``hard_exit``: native code (HDF5) crashes while shutting down after a failed write, so
    the command line ends the process at once after printing the message."""

    def __init__(self, message: str, hard_exit: bool = False):
        super().__init__(message)
        self.hard_exit = hard_exit


_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)


def is_disk_full(err: BaseException | None) -> bool:
    """True when ``err`` or an exception it was raised from is ENOSPC/EDQUOT (torch and
    HDF5 wrap it in a RuntimeError, HDF5 with the errno only in the text)."""
    seen = 0
    while err is not None and seen < 10:
        if isinstance(err, OSError) and err.errno in _FULL_ERRNOS:
            return True
        text = str(err)
        if "No space left on device" in text or "Disk quota exceeded" in text:
            return True
        err, seen = err.__cause__ or err.__context__, seen + 1
    return False


def check_free_space(folder: str | os.PathLike[str], need: int, path: Path) -> None:
    """Refuse up front a write of ``need`` bytes into ``folder`` that cannot fit."""
    where = Path(folder)
    while not where.exists() and where != where.parent:
        where = where.parent
    free = shutil.disk_usage(where).free
    if need > free:
        raise DiskFull(
            f"no space left on device while writing {path}: it needs {need / 1e6:,.1f} MB "
            f"more, {free / 1e6:,.1f} MB are free"
        )


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only on success."""
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{final.name}.", suffix=suffix + ".tmp", dir=final.parent
    )
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        # mkstemp creates 0600; give the result the mode a plain open() would (umask).
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, final)
    except Exception as err:
        if is_disk_full(err):
            raise DiskFull(
                f"no space left on device while writing {final} (the previous file, if any, "
                "is unchanged)"
            ) from None
        raise
    finally:
        if tmp.exists():
            tmp.unlink()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_json_atomic(path: str | os.PathLike[str], obj: Any, indent: int | None = 2) -> None:
    """Serialise ``obj`` as JSON to ``path`` atomically.

    ``json.dumps``, not ``json.dump``: only the former uses the C encoder (for ``indent``
    None), several times faster on the demo world's and result files' large lists.
    """
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        f.write(json.dumps(obj, indent=indent))
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())


def write_text_atomic(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


# The cache of :func:`parsed_once` while one is active (None: every call parses).
_parsed: dict[tuple[str, int, int, int], Any] | None = None


@contextlib.contextmanager
def parsed_once() -> Iterator[None]:
    """Within the block, :func:`read_json` parses each file once and returns that object.

    A command reads some inputs from several places (``lsat train`` joins val for its
    dataset and scores val with the same annotations; ``lsat predict --on test`` reads the
    test questions for the data and for the result check): at VQA-v2 size each parse costs
    seconds and a transient gigabyte. Files are keyed by path, inode, size and mtime. The objects
    are shared, so callers must treat them as read-only (the readers build their own
    records from them). The cache is dropped when the outermost block exits, so wrap the
    loading phase, not a long training loop, to free the parsed JSON early.
    """
    global _parsed
    if _parsed is not None:  # nested: the outer block owns the cache
        yield
        return
    _parsed = {}
    try:
        yield
    finally:
        _parsed = None


def read_json(path: str | os.PathLike[str], what: str = "JSON file") -> Any:
    """Load JSON, turning a missing or malformed file into one clear :class:`LsatError`."""
    p = Path(path)
    if not p.is_file():
        raise LsatError(f"{what} not found: {p}")
    cache, key = _parsed, None
    if cache is not None:
        st = p.stat()
        key = (str(p.resolve()), st.st_ino, st.st_size, st.st_mtime_ns)
        if key in cache:
            return cache[key]
    try:
        with open(p, encoding="utf-8") as f:
            data = json.load(f)
    except json.JSONDecodeError as err:
        raise LsatError(
            f"{what} {p} is not valid JSON: {err.msg} at line {err.lineno}, column {err.colno}"
        ) from None
    except UnicodeDecodeError as err:
        raise LsatError(
            f"{what} {p} is not UTF-8 text (byte {err.object[err.start]:#04x} at offset "
            f"{err.start}): JSON files must be UTF-8"
        ) from None
    if cache is not None and key is not None:
        cache[key] = data
    return data


# Digests already computed in this process, by (path, inode, size, mtime): a few strings
# (atomic rewrites give a new inode even within the clock's mtime granularity).
_digests: dict[tuple[str, int, int, int], str] = {}


def json_content_sha256(path: str | os.PathLike[str], what: str = "JSON file") -> str:
    """sha256 of a JSON file's content (keys sorted, no whitespace): the same for a
    reformatted file, different for any change of a value or of an index.

    Remembered per file version, so the checkpoint checks of one command (training's
    metadata, its resume, prediction) parse the vocabulary and answer files once.
    """
    p = Path(path)
    st = p.stat() if p.is_file() else None
    key = (str(p.resolve()), st.st_ino, st.st_size, st.st_mtime_ns) if st else None
    if key is not None and key in _digests:
        return _digests[key]
    text = json.dumps(read_json(path, what), sort_keys=True, separators=(",", ":"))
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    if key is not None:
        _digests[key] = digest
    return digest
