"""Step hooks run after each optimizer step, installed from outside the loop."""

from __future__ import annotations

from pathlib import Path

from engine_fakes import FakeQA, TinyNet, spec

from lsat.engine.distributed import DistEnv
from lsat.engine.hooks import SIGNAL_AFTER_ENV, SignalAfterSteps, hooks_from_env
from lsat.engine.trainer import Trainer, seed_everything, train


def test_the_kill_hook_is_read_from_the_environment() -> None:
    for unset in ({}, {SIGNAL_AFTER_ENV: ""}, {SIGNAL_AFTER_ENV: "0"}):
        assert hooks_from_env(unset) == []
    (hook,) = hooks_from_env({SIGNAL_AFTER_ENV: "3"})
    assert isinstance(hook, SignalAfterSteps) and hook.steps == 3


def test_hooks_see_every_step_of_this_process(tmp_path: Path) -> None:
    seen: list[tuple[int, int, int]] = []

    def hook(t: Trainer) -> None:
        seen.append((t.epoch, t.step, t.steps_run))

    seed_everything(1, True)
    train(TinyNet(), FakeQA(), spec(tmp_path, max_epoch=2), DistEnv(), hooks=[hook])
    # 96 questions in batches of 16: 6 steps an epoch.
    assert seen == [(e, s, 6 * e + s) for e in range(2) for s in range(1, 7)]
