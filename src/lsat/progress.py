"""Progress bars for people at a terminal, none in logs, and none needed to run.

A bar redrawn with carriage returns turns a Slurm or Snakemake log file into thousands of
half lines, so bars are shown only when stderr is a terminal and the loop is long enough
to need one; the per-epoch log line is what a log file gets. ``LSAT_PROGRESS=1`` forces
bars on, ``LSAT_PROGRESS=0`` off. tqdm is a dependency for the bars it draws, not for any
result: a machine without it (a bare GPU image, a minimal container) runs every command
the same, with silent stand-ins.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from typing import Any

PROGRESS_ENV = "LSAT_PROGRESS"
MIN_STEPS = 20


class _Silent:
    """The part of tqdm's interface the commands use: iteration, update, close, ``with``."""

    def __init__(self, iterable: Iterable[Any] | None = None, **_kw: Any) -> None:
        self.iterable = iterable

    def __iter__(self) -> Iterator[Any]:
        return iter(self.iterable if self.iterable is not None else ())

    def update(self, _n: int = 1) -> None:
        return None

    def close(self) -> None:
        return None

    def __enter__(self) -> _Silent:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


def tqdm(iterable: Iterable[Any] | None = None, **kw: Any) -> Any:
    """``tqdm.tqdm(iterable, **kw)``, or a silent bar when tqdm is not installed."""
    try:
        from tqdm import tqdm as real
    except ImportError:
        return _Silent(iterable, **kw)
    return real(iterable, **kw)


def wanted(total: int | None, enabled: bool = True) -> bool:
    """True when a bar should be drawn for a loop of ``total`` steps."""
    forced = os.environ.get(PROGRESS_ENV, "")
    if not enabled or forced == "0":
        return False
    if forced == "1":
        return True
    return sys.stderr.isatty() and (total is None or total >= MIN_STEPS)


def bar(iterable: Any = None, *, total: int | None = None, enabled: bool = True, **kw: Any) -> Any:
    """A bar drawn only when :func:`wanted` (a disabled tqdm costs nothing per step)."""
    if total is None and iterable is not None and hasattr(iterable, "__len__"):
        total = len(iterable)
    return tqdm(iterable, total=total, disable=not wanted(total, enabled), **kw)
