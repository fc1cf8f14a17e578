"""The checkpoint format across the trainer's state_dict()/load_state_dict() refactor.

``data/checkpoint_v2_interrupt.pt`` is an interrupt checkpoint (epoch 1, step 2 of the
fake run of test_trainer.py with grad_accu_steps=2) written by the trainer of main at
cc9ed83, before the refactor: it must still resume, and today's checkpoints and model.pt
must carry the same keys, so files move both ways between the versions.
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import torch
from engine_fakes import FakeQA, TinyNet, spec

from lsat.engine.distributed import DistEnv
from lsat.engine.trainer import seed_everything, train

FIXTURE = Path(__file__).parent / "data" / "checkpoint_v2_interrupt.pt"
CHECKPOINT_KEYS = {
    "format",
    "sha256",
    "state_dict",
    "optimizer",
    "scaler",
    "lr_base",
    "epoch",
    "step",
    "data_seed",
    "world_size",
    "rng",
    "history",
    "log_lines",
    "partial",
    "settings_hash",
    "settings",
    "model_meta",
    "provenance",
}
MODEL_KEYS = {"format", "sha256", "state_dict", "epoch", "lr_base", "model_meta", "settings"}
MODEL_KEYS |= {"val", "provenance"}


def _resume_fixture(root: Path):  # type: ignore[no-untyped-def]
    (root / "checkpoints").mkdir(parents=True)
    shutil.copy(FIXTURE, root / "checkpoints" / "last.pt")
    seed_everything(1, True)
    # The run's settings as the fixture recorded them (the fakes' settings since gained the
    # typed TrainSettings' keys, so their hash differs: the run would start fresh).
    recorded = torch.load(FIXTURE, weights_only=True)["settings"]
    run = dataclasses.replace(spec(root, grad_accu_steps=2), settings=recorded)
    return train(TinyNet(), FakeQA(), run, DistEnv())


def test_a_checkpoint_of_the_earlier_trainer_resumes(tmp_path: Path) -> None:
    old = torch.load(FIXTURE, weights_only=True)
    assert set(old) == CHECKPOINT_KEYS and (old["epoch"], old["step"]) == (1, 2)
    trainer = _resume_fixture(tmp_path)
    assert trainer.raw_model.tau_calls == [1, 2]  # epoch 2 continued at its step 2, then 3
    assert len(trainer.history) == 3 and trainer.history[0] == old["history"][0]
    assert (
        f"resumed from {tmp_path / 'checkpoints' / 'last.pt'} (epoch 1, step 2)"
        in (tmp_path / "log.txt").read_text()
    )


def test_todays_files_have_the_earlier_keys(tmp_path: Path) -> None:
    _resume_fixture(tmp_path)
    for name in ("epoch2.pt", "epoch3.pt", "last.pt"):
        ck = torch.load(tmp_path / "checkpoints" / name, weights_only=True)
        assert set(ck) == CHECKPOINT_KEYS, name
    assert set(torch.load(tmp_path / "model.pt", weights_only=True)) == MODEL_KEYS
