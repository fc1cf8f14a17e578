"""How a dataset's settings differ from the paper recipe, and whether val was trained on.

A table of val accuracies invites comparison with the papers (TRAR 67.62 on val). That
comparison is only fair for a run trained on ``train`` alone, with the paper's recipe, and
scored by the evaluation that produced the published number. ``lsat summary``, the HTML
report and the metrics files therefore say when a val score was **seen in training** and
list every setting that differs from the paper (docs/sources.md).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from lsat.config import DatasetConfig
from lsat.paths import split_parts
from lsat.settings import as_plain

SEEN = "seen in training"
HELD_OUT = "held out"
_TRAIN_LABELS = {
    "batch_size": "batch",
    "grad_accu_steps": "gradient accumulation",
    "max_epoch": "epochs",
    "lr_base": "lr",
    "lr_decay_list": "lr decay at",
    "loss": "loss",
}
PAPER_WARMUP = 3
_TRAR_ONLY = ("orders", "routing", "pooling", "binarize", "tau_policy", "tau_max", "tau_min")


def val_seen(fmt: str, split: str) -> bool:
    """Whether the run of ``split`` trained on the val questions it is scored on."""
    return "val" in split_parts(fmt, split)


def val_label(fmt: str, split: str) -> str:
    return SEEN if val_seen(fmt, split) else HELD_OUT


def label_metrics(metrics: dict[str, Any], split: str, qsets: list[str]) -> dict[str, Any]:
    """``metrics`` with the run they score and whether it trained on val (for DVC metrics
    and every reader of ``val_metrics.json``)."""
    seen = "val" in qsets
    return {
        **metrics,
        "trained_on": split,
        "val_seen_in_training": seen,
        "val": SEEN if seen else HELD_OUT,
    }


def _model_differences(ds: DatasetConfig) -> list[str]:
    from lsat.models.config import make_config

    name = ds.model["name"]
    options = dict(ds.model.get("options") or {})
    options.setdefault("img_scale", ds.features.grid)
    options.pop("img_feat_size", None)  # follows the features
    paper, ours = make_config(name, ds.format), make_config(name, ds.format, **options)
    skip = {"name", "format", "img_feat_size"}
    if name != "trar":
        skip |= set(_TRAR_ONLY)
    if name != "lsat":
        skip.add("window_size")
    out = []
    for f in dataclasses.fields(paper):
        a, b = getattr(paper, f.name), getattr(ours, f.name)
        if f.name not in skip and a != b:
            out.append(f"{f.name} {_fmt(b)} (paper {_fmt(a)})")
    if name == "trar" and ours.routing == "hard":
        out.append("hard routing evaluated deterministically (the official test adds Gumbel noise)")
    return out


def _fmt(value: Any) -> str:
    if isinstance(value, tuple | list):
        return "[" + ", ".join(str(v) for v in value) + "]"
    return str(value)


def differences(ds: DatasetConfig) -> list[str]:
    """Each setting of ``ds`` that differs from the paper recipe of its model and format."""
    out = []
    if not ds.vocab.glove:
        out.append("GloVe off (random word embeddings)")
    paper, train = ds.fmt.paper_train, as_plain(ds.train)
    for key, label in _TRAIN_LABELS.items():
        if train[key] != paper[key]:
            out.append(f"{label} {_fmt(train[key])} (paper {_fmt(paper[key])})")
    if ds.train.warmup_epochs != PAPER_WARMUP:
        out.append(f"warm-up epochs {ds.train.warmup_epochs} (paper {PAPER_WARMUP})")
    paper_eval, paper_backend = ds.fmt.paper_eval_version, ds.fmt.paper_backend
    if paper_eval and ds.eval_version != paper_eval:
        out.append(f"evaluation {ds.eval_version} (the papers' val numbers used {paper_eval})")
    if paper_backend and ds.features.backend != paper_backend:
        out.append(f"features: {ds.features.backend} backend (paper: TRAR's grid features)")
    return out + _model_differences(ds)
