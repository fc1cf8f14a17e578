"""Step hooks: code a caller installs to run after every optimizer step, outside the loop.

The trainer calls each hook with itself after each step (:attr:`Trainer.steps_run` counts
this process's steps). The one hook the project has is a test hook: a deterministic kill,
a real SIGTERM sent at a known step, which the resume tests and ``benchmarks/gpu_demo.py``
ask for through ``LSAT_SIGNAL_AFTER_STEPS`` (read by :mod:`lsat.engine.fit`, the path
behind ``lsat train`` and run.py) or install directly.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lsat.engine.trainer import Trainer

StepHook = Callable[["Trainer"], None]

# Test hook: rank 0 sends itself SIGTERM after this many optimizer steps (deterministic kill).
SIGNAL_AFTER_ENV = "LSAT_SIGNAL_AFTER_STEPS"


class SignalAfterSteps:
    """Rank 0 sends its own process SIGTERM after ``steps`` optimizer steps of this process
    (as a preemption would; the loop's signal handling then checkpoints that step)."""

    def __init__(self, steps: int):
        self.steps = steps

    def __call__(self, trainer: Trainer) -> None:
        if trainer.steps_run == self.steps and trainer.env.is_main:
            os.kill(os.getpid(), signal.SIGTERM)


def hooks_from_env(environ: Mapping[str, str] = os.environ) -> list[StepHook]:
    """The hooks the environment asks for (``LSAT_SIGNAL_AFTER_STEPS=N``, N > 0)."""
    steps = int(environ.get(SIGNAL_AFTER_ENV, "0") or 0)
    return [SignalAfterSteps(steps)] if steps else []
