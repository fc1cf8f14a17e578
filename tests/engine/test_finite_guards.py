"""No silent NaN: training stops on the first non-finite loss, keeps the last good
checkpoint and writes no model; feature extraction refuses NaN/inf and float16 overflow."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from engine_fakes import FakeQA, TinyNet, spec

from lsat.engine import checkpoint as ckpt_io
from lsat.engine.distributed import DistEnv
from lsat.engine.trainer import NonFiniteLoss, seed_everything, train


class PoisonAfter(FakeQA):
    """FakeQA whose batches carry one NaN feature from the ``after``-th batch on."""

    def __init__(self, after: int):
        super().__init__()
        self.after, self.calls = after, 0

    def read_batch(self, indices: np.ndarray) -> dict:
        batch = super().read_batch(indices)
        self.calls += 1
        if self.calls > self.after:
            batch["img_feat"] = batch["img_feat"].copy()
            batch["img_feat"][0, 0, 0] = np.nan
        return batch


def test_nan_loss_stops_keeps_last_good_checkpoint_and_writes_no_model(tmp_path: Path) -> None:
    seed_everything(1, True)
    run = tmp_path / "run"
    data = PoisonAfter(after=6)  # 96 questions / batch 16: epoch 1 is clean, epoch 2 is not
    with pytest.raises(NonFiniteLoss, match=r"NaN or infinite at epoch 2.*last good checkpoint"):
        train(TinyNet(), data, spec(run, feature_residency="disk"), DistEnv())
    assert not (run / "model.pt").exists()
    names = sorted(p.name for p in (run / "checkpoints").iterdir())
    assert names == ["epoch1.pt", "last.pt"]
    last = ckpt_io.load(run / "checkpoints" / "last.pt")
    assert last["epoch"] == 1
    assert all(torch.isfinite(v).all() for v in last["state_dict"].values())
    assert "NaN or infinite" in (run / "log.txt").read_text()


def test_nan_in_the_first_epoch_leaves_no_checkpoint(tmp_path: Path) -> None:
    seed_everything(1, True)
    run = tmp_path / "run"
    with pytest.raises(NonFiniteLoss, match=r"epoch 1.*no checkpoint, no model written"):
        train(TinyNet(), PoisonAfter(after=2), spec(run, feature_residency="disk"), DistEnv())
    assert not (run / "model.pt").exists()
    assert not (run / "checkpoints" / "last.pt").exists()
