"""SIGTERM during validation checkpoints at once (validation reruns after the restart), and
a resume with a larger max_epoch extends the run instead of starting afresh."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
import torch
from engine_fakes import FakeQA, TinyNet, spec

from lsat.engine import checkpoint as ckpt_io
from lsat.engine.distributed import DistEnv
from lsat.engine.trainer import TrainingInterrupted, seed_everything, train


def _run(root: Path, validate=None, **kw):
    seed_everything(1, True)
    model = TinyNet(dropout=0.1)
    trainer = train(model, FakeQA(), spec(root, **kw), DistEnv(), validate=validate)
    return trainer, {k: v.clone() for k, v in model.state_dict().items()}


def _same(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_sigterm_during_validation_stops_at_once_and_validation_reruns(tmp_path: Path) -> None:
    calls: list[int] = []

    def endless_validation(model):
        calls.append(len(calls))
        if len(calls) == 2:  # epoch 2: a validation far longer than any grace period
            os.kill(os.getpid(), signal.SIGTERM)
            for _ in range(6000):
                time.sleep(0.01)
            raise AssertionError("validation ran on after SIGTERM")
        return {"overall": 50.0}

    run = tmp_path / "run"
    with pytest.raises(TrainingInterrupted) as stop:
        _run(run, validate=endless_validation)
    assert stop.value.exit_code == 143
    last = ckpt_io.load(run / "checkpoints" / "last.pt")
    assert (last["epoch"], last["step"]) == (1, 6)  # epoch 2's steps done, its val pending
    assert not (run / "checkpoints" / "epoch2.pt").exists() and not (run / "model.pt").exists()

    reruns: list[int] = []

    def validate(model):
        reruns.append(1)
        return {"overall": 50.0}

    trainer, resumed = _run(run, validate=validate)
    assert len(reruns) == 2  # epoch 2's validation again, then epoch 3's
    assert [e["val"] for e in trainer.history] == [{"overall": 50.0}] * 3
    _, clean = _run(tmp_path / "clean", validate=validate)
    _same(resumed, clean)


def test_larger_max_epoch_extends_the_run(tmp_path: Path) -> None:
    run = tmp_path / "run"
    _run(run, max_epoch=2, lr_decay_list=[2])
    trainer, extended = _run(run, max_epoch=3, lr_decay_list=[2])
    assert [e["epoch"] for e in trainer.history] == [1, 2, 3]
    assert "extended: max_epoch 2 -> 3" in (run / "log.txt").read_text()
    assert "started fresh" not in (run / "log.txt").read_text()
    _, fresh = _run(tmp_path / "fresh", max_epoch=3, lr_decay_list=[2])
    _same(extended, fresh)  # the schedule is a function of the epoch: the same run


@pytest.mark.parametrize(
    "change",
    [{"max_epoch": 3, "lr_decay_list": [1]}, {"max_epoch": 3, "lr_base": 5e-3}, {"max_epoch": 1}],
)
def test_other_changes_still_start_afresh(tmp_path: Path, change: dict) -> None:
    run = tmp_path / "run"
    _run(run, max_epoch=2, lr_decay_list=[2])
    _run(run, **{"lr_decay_list": [2], **change})
    log = (run / "log.txt").read_text()
    assert "started fresh" in log and "extended" not in log
