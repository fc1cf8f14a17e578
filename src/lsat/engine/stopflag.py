"""Preemption signals as a flag the training loop reads between steps.

SIGTERM/SIGUSR1 (Slurm's ``--signal``, ``scancel``, Snakemake stopping a job) only record
the signal: the loop finishes its step, the ranks agree on stopping and an interrupt
checkpoint of that step is written (:mod:`lsat.engine.trainer`). During validation the
handler raises instead, so a preempted job stops within one batch whatever the val size.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator
from typing import Any


class ValidationStopped(Exception):
    """Raised by the signal handler while validation runs (see :meth:`StopFlag.raising`)."""


class StopFlag:
    """SIGTERM/SIGUSR1 handlers that record the signal (acted on between steps); during
    validation they raise, so a preempted job stops within one batch whatever the val size."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self._old: dict[int, Any] = {}
        self._raise = False

    @contextlib.contextmanager
    def raising(self) -> Iterator[None]:
        self._raise = True
        try:
            yield
        finally:
            self._raise = False

    def __enter__(self) -> StopFlag:
        for s in (signal.SIGTERM, signal.SIGUSR1):
            self._old[s] = signal.signal(s, self._handle)
        return self

    def _handle(self, signum: int, _frame: Any) -> None:
        self.signum = signum
        if self._raise:
            self._raise = False
            raise ValidationStopped(signum)

    def __exit__(self, *exc: object) -> None:
        for s, h in self._old.items():
            signal.signal(s, h)
