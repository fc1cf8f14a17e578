"""Tiny stand-ins for the data and model contracts (docs/architecture.md) used by engine tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from lsat.engine.layout import RunLayout
from lsat.engine.trainer import TrainSpec
from lsat.settings import TrainSettings, as_plain, from_mapping


class FakeQA(torch.utils.data.Dataset):
    """In-memory QADataset: answer = (colour of the brightest cell + first token) mod A."""

    def __init__(self, n: int = 96, images: int = 24, seed: int = 0, answers: int = 5):
        rng = np.random.default_rng(seed)
        self.grid, self.num_cells, self.channels, self.token_size = 2, 4, 6, 11
        self.bank = rng.standard_normal((images, 4, 6)).astype(np.float16)
        self.image_row = rng.integers(0, images, n).astype(np.int64)
        self.ques_ix = rng.integers(3, 11, (n, 5)).astype(np.int64)
        label = (self.bank[self.image_row].argmax(axis=2)[:, 0] + self.ques_ix[:, 0]) % answers
        self.target_ix = np.stack([label, (label + 1) % answers], 1).astype(np.int64)
        self.target_score = np.tile(np.array([[1.0, 0.3]], np.float32), (n, 1))
        self.question_ids = np.arange(1000, 1000 + n, dtype=np.int64)
        self.answers = [f"a{i}" for i in range(answers)]
        self.num_answers = answers

    def __len__(self) -> int:
        return len(self.ques_ix)

    def read_batch(self, indices: np.ndarray) -> dict:
        i = np.asarray(indices, dtype=np.int64)
        return {
            "img_feat": self.bank[self.image_row[i]],
            "ques_ix": self.ques_ix[i],
            "target_ix": self.target_ix[i],
            "target_score": self.target_score[i],
            "qid": self.question_ids[i],
        }

    def feature_bank(self) -> np.ndarray:
        return self.bank


class TinyNet(nn.Module):
    """Embedding + image projection + dropout + classifier, with an update_tau hook."""

    def __init__(self, answers: int = 5, dropout: float = 0.1):
        super().__init__()
        self.emb = nn.Embedding(11, 8)
        self.img = nn.Linear(6, 8)
        self.drop = nn.Dropout(dropout)
        self.out = nn.Linear(8, answers)
        self.tau_calls: list[int] = []

    def update_tau(self, epoch: int, max_epoch: int, warmup: int) -> float:
        self.tau_calls.append(epoch)
        return 10.0 / (epoch + 1)

    def forward(self, img: torch.Tensor, ques: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.emb(ques).mean(1) + self.img(img).mean(1))
        return self.out(self.drop(h))


def train_cfg(**kw: object) -> TrainSettings:
    cfg = {
        "splits": ["train"],
        "result_split": None,
        "batch_size": 16,
        "grad_accu_steps": 1,
        "max_epoch": 3,
        "lr_base": 1e-2,
        "lr_decay_rate": 0.2,
        "lr_decay_list": [2],
        "warmup_epochs": 1,
        "opt_betas": [0.9, 0.98],
        "opt_eps": 1e-9,
        "loss": "bce",
        "seed": 1,
        "seeds": None,
        "num_workers": 0,
        "amp": "none",
        "compile": False,
        "feature_residency": "ram",
        "residency_fallback": "disk",
        "deterministic": True,
        "tf32": None,
        "cpu_threads": None,
        "eval_every_epoch": True,
    }
    cfg.update(kw)
    return from_mapping(TrainSettings, cfg, "engine_fakes.train_cfg")


def layout(root: Path) -> RunLayout:
    return RunLayout(
        checkpoint_dir=root / "checkpoints",
        final_model=root / "model.pt",
        metrics=root / "metrics.json",
        log=root / "log.txt",
        curves=root / "curves.png",
    )


def spec(root: Path, **kw: object) -> TrainSpec:
    tc = train_cfg(**kw)
    settings = {"train": {k: v for k, v in as_plain(tc).items() if k != "feature_residency"}}
    return TrainSpec(train=tc, layout=layout(root), settings=settings, header=["fake run"])
