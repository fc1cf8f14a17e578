"""The loop on tiny fakes: determinism, residency equality, exact resume, files written."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from engine_fakes import FakeQA, TinyNet, spec

from lsat.engine.distributed import DistEnv
from lsat.engine.hooks import SignalAfterSteps
from lsat.engine.resume import ResumeMode
from lsat.engine.trainer import TrainingInterrupted, seed_everything, train


def _run(root, validate=None, resume=ResumeMode.AUTO, hooks=(), **kw):
    seed_everything(1, True)
    model = TinyNet(dropout=kw.pop("dropout", 0.1))
    trainer = train(
        model,
        FakeQA(),
        spec(root, **kw),
        DistEnv(),
        validate=validate,
        resume=resume,
        hooks=hooks,
    )
    return trainer, {k: v.clone() for k, v in model.state_dict().items()}


def _same(a, b):
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_same_result_twice_and_files(tmp_path):
    calls = []

    def validate(model):
        calls.append(model.training)
        return {"overall": 40.0, "perAnswerType": {"yes/no": 40.0}}

    trainer, w1 = _run(tmp_path / "a", validate=validate)
    _, w2 = _run(tmp_path / "b", validate=validate)
    _same(w1, w2)
    assert trainer.raw_model.tau_calls == [0, 1, 2]
    run = tmp_path / "a"
    for name in ("model.pt", "metrics.json", "log.txt", "curves.png"):
        assert (run / name).is_file(), name
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == [
        "epoch1.pt",
        "epoch2.pt",
        "epoch3.pt",
        "last.pt",
    ]
    metrics = json.loads((run / "metrics.json").read_text())
    epochs = metrics["epochs"]
    # warm-up 1 epoch: ½ base, then base, then ×0.2 at epoch index 2
    assert [e["lr"] for e in epochs] == pytest.approx([5e-3, 1e-2, 2e-3])
    assert epochs[-1]["val"]["overall"] == 40.0 and len(calls) == 6
    assert epochs[0]["tau"] == 10.0 and epochs[-1]["loss"] < epochs[0]["loss"]
    log = (run / "log.txt").read_text()
    assert "fake run" in log and "epoch   3" in log and "val 40.00" in log


def test_disk_and_ram_residency_agree(tmp_path):
    _, ram = _run(tmp_path / "ram", feature_residency="ram")
    _, disk = _run(tmp_path / "disk", feature_residency="disk")
    _same(ram, disk)


def test_resume_at_epoch_boundary_matches(tmp_path):
    _, full = _run(tmp_path / "full")
    part = tmp_path / "part" / "checkpoints"
    part.mkdir(parents=True)
    shutil.copy(tmp_path / "full" / "checkpoints" / "epoch1.pt", part / "last.pt")
    trainer, resumed = _run(tmp_path / "part")
    _same(full, resumed)
    assert trainer.raw_model.tau_calls == [1, 2]


def test_sigterm_mid_epoch_then_resume_matches(tmp_path):
    _, full = _run(tmp_path / "full", grad_accu_steps=2)
    kill = [SignalAfterSteps(8)]  # 6 steps per epoch: stops at epoch 2, step 2
    with pytest.raises(TrainingInterrupted) as stop:
        _run(tmp_path / "cut", grad_accu_steps=2, hooks=kill)
    assert stop.value.exit_code == 143
    ck = torch.load(tmp_path / "cut" / "checkpoints" / "last.pt", weights_only=False)
    assert (ck["epoch"], ck["step"]) == (1, 2)
    assert "interrupted by signal" in (tmp_path / "cut" / "log.txt").read_text()
    _, resumed = _run(tmp_path / "cut", grad_accu_steps=2)
    _same(full, resumed)
    full_loss = json.loads((tmp_path / "full" / "metrics.json").read_text())["epochs"]
    cut_loss = json.loads((tmp_path / "cut" / "metrics.json").read_text())["epochs"]
    assert [e["loss"] for e in cut_loss] == pytest.approx([e["loss"] for e in full_loss])


def test_resume_refuses_changed_settings(tmp_path):
    _run(tmp_path / "a", max_epoch=1)
    from lsat.errors import LsatError

    with pytest.raises(LsatError, match="different settings"):
        _run(tmp_path / "a", max_epoch=1, lr_base=0.5, resume=ResumeMode.REQUIRE)


def test_auto_resume_sets_aside_a_checkpoint_of_other_settings(tmp_path):
    """A rerun after a config change (Snakemake, dvc repro) starts fresh, losing nothing."""
    _run(tmp_path / "a", max_epoch=1)
    _, changed = _run(tmp_path / "a", max_epoch=1, lr_base=0.5)
    _, fresh = _run(tmp_path / "b", max_epoch=1, lr_base=0.5)
    _same(changed, fresh)
    aside = [p.name for p in (tmp_path / "a").iterdir() if p.name.startswith("checkpoints.")]
    assert len(aside) == 1 and (tmp_path / "a" / aside[0] / "last.pt").is_file()
    assert "started fresh" in (tmp_path / "a" / "log.txt").read_text()


def test_cross_entropy_loss_and_restart(tmp_path):
    _, w = _run(tmp_path / "ce", loss="ce", max_epoch=1)
    _, w2 = _run(tmp_path / "ce", loss="ce", max_epoch=1, resume=ResumeMode.RESTART)
    _same(w, w2)


def test_bf16_autocast_trains_on_cpu(tmp_path):
    """`train.amp: bf16` runs on a CPU too (AMX/AVX-512 bf16) and still learns finite weights."""
    trainer, weights = _run(tmp_path / "bf16", amp="bf16", max_epoch=1)
    assert all(torch.isfinite(w).all() for w in weights.values() if w.is_floating_point())
    assert trainer.history[-1]["loss"] > 0
