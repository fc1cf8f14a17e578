"""Read ahead in a background thread: the next batches are read while the step computes.

With ``feature_residency: disk`` and no DataLoader workers, each batch used to be read only
when the step asked for it, so the model waited for every read (from network storage, once
the file exceeds the page cache, slower than a GPU consumes batches). One reader
thread keeps up to ``depth`` batches ready; HDF5 reads and torch kernels release the GIL
for most of their time, so reading overlaps the step instead of adding to it. Items come
out in order, and the thread draws no random numbers (dropout masks stay identical).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")
U = TypeVar("U")
_END = object()


class _Failed:
    def __init__(self, error: BaseException) -> None:
        self.error = error


def prefetched(read: Callable[[T], U], keys: Iterable[T], depth: int = 4) -> Iterator[U]:
    """``read(k)`` for each of ``keys``, in order, computed up to ``depth`` items ahead.

    An exception in ``read`` is raised in the consumer at that item; closing the iterator
    early (a ``break``, an interrupt) stops the thread after its current read.
    """
    ready: queue.Queue[Any] = queue.Queue(maxsize=max(1, depth))
    stop = threading.Event()

    def put(item: Any) -> bool:
        """Hand ``item`` over; False once the consumer has gone (never blocks forever)."""
        while not stop.is_set():
            try:
                ready.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            for key in keys:
                if stop.is_set() or not put(read(key)):
                    return
        except BaseException as err:  # handed to the consumer, raised there
            put(_Failed(err))
            return
        put(_END)

    thread = threading.Thread(target=work, name="lsat-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item = ready.get()
            if item is _END:
                return
            if isinstance(item, _Failed):
                raise item.error
            yield item
    finally:
        stop.set()
        thread.join()
