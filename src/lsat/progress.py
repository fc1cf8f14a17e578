"""Progress bars: tqdm's where it is installed, silent stand-ins where it is not.

tqdm is a dependency for the bars it draws, not for any result; a machine without it (a
bare GPU image, a minimal container) runs every command the same, without bars.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any


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
