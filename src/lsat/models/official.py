"""Load an official TRAR checkpoint (``epochN.pkl``) into one of our models.

Official checkpoints are ``{'state_dict', 'optimizer', 'lr_base', 'epoch'}`` written by
``torch.save``. Our module names match the official ones, so the state dict loads with
``strict=True``. The most common user error with these codebases is a vocabulary or answer
list that differs from the one the checkpoint was trained with; it is caught here, before
the load, with a message naming both sizes and the file at fault.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from lsat.errors import LsatError
from lsat.io import json_content_sha256, parsed_once, read_json
from lsat.safe_load import safe_torch_load, verify_digest

REQUIRED_KEYS = ("state_dict", "optimizer", "lr_base", "epoch")


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """The file's dict, read by :func:`lsat.safe_load.safe_torch_load` (never runs code)."""
    p = Path(path)
    ckpt = safe_torch_load(p)
    if isinstance(ckpt, dict):
        verify_digest(ckpt, p)  # our own files carry a checksum; official ones do not
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt:
        raise LsatError(
            f"checkpoint {p} is not an official checkpoint: expected a dict with keys "
            f"{', '.join(REQUIRED_KEYS)}"
        )
    return ckpt


def strip_module_prefix(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Drop the ``module.`` prefix that ``DataParallel`` adds to every key."""
    if state and all(k.startswith("module.") for k in state):
        return {k[len("module.") :]: v for k, v in state.items()}
    return state


def vocab_size(vocab_path: str | Path) -> int:
    """Tokens in our ``vocab.json`` (``token_to_ix``) or a bare official token→index dict."""
    data = read_json(vocab_path, "vocabulary file")
    table = data.get("token_to_ix", data) if isinstance(data, dict) else None
    if not isinstance(table, dict) or not table:
        raise LsatError(f"vocabulary file {vocab_path} has no token_to_ix table")
    return len(table)


def answer_size(answers_path: str | Path) -> int:
    """Answers in an official ``answer_dict.json`` ([ans_to_ix, ix_to_ans]) or a list."""
    data = read_json(answers_path, "answers file")
    if isinstance(data, list) and len(data) == 2 and isinstance(data[0], dict):
        return len(data[0])
    if isinstance(data, (list, dict)) and data:
        return len(data)
    raise LsatError(f"answers file {answers_path} is not [answer_to_ix, ix_to_answer]")


def list_digests(vocab: Path, answers: Path) -> dict[str, str]:
    """Content hashes of the vocabulary and answer list, stored in every checkpoint."""
    return {
        "vocab_sha256": json_content_sha256(vocab, "vocabulary file"),
        "answers_sha256": json_content_sha256(answers, "answers file"),
    }


def check_lists(meta: dict[str, Any], vocab: Path, answers: Path, ckpt: Path) -> None:
    """Refuse a vocabulary or answer list whose content differs from the checkpoint's.

    Sizes alone miss a reordered answer list: predictions would be mapped to the wrong
    answers. Checkpoints without the hashes (official files) are not checked here.
    """
    now = list_digests(vocab, answers)
    for key, what, file, old in (
        ("vocab_sha256", "vocabulary", vocab, meta.get("vocab")),
        ("answers_sha256", "answer list", answers, meta.get("answers")),
    ):
        if meta.get(key) and meta[key] != now[key]:
            raise LsatError(
                f"checkpoint {ckpt} was trained with the {what} {old} but {file} has other "
                f"content (same size or not, e.g. reordered): use the {what} the checkpoint "
                "was trained with, or retrain"
            )


def _check_size(
    state: dict[str, torch.Tensor], key: str, expected: int, what: str, file: str | Path, ckpt: Path
) -> None:
    if key not in state:
        raise LsatError(f"checkpoint {ckpt} has no {key}: not a TRAR/MCAN checkpoint")
    found = state[key].shape[0]
    if found != expected:
        raise LsatError(
            f"checkpoint {ckpt} has {key} for {found} {what} but {file} has {expected}: "
            f"the checkpoint was trained with a different {what[:-1]} list (use the files "
            "it was trained with, e.g. the official answer_dict.json and vocabulary sources)"
        )


def load_official_checkpoint(
    path: str | Path, model: nn.Module, *, vocab_path: str | Path, answers_path: str | Path
) -> dict[str, Any]:
    """Load ``path`` into ``model`` strictly; return ``{'epoch', 'lr_base', 'optimizer'}``."""
    p = Path(path)
    return apply_checkpoint(read_checkpoint(p), p, model, vocab_path, answers_path)


def apply_checkpoint(
    ckpt: dict[str, Any],
    p: Path,
    model: nn.Module,
    vocab_path: str | Path,
    answers_path: str | Path,
) -> dict[str, Any]:
    """Load an already-read checkpoint dict ``ckpt`` (of file ``p``) into ``model``.

    The list checks (content hashes, then sizes) share one parse of each file.
    """
    state = strip_module_prefix(dict(ckpt["state_dict"]))
    with parsed_once():
        if isinstance(ckpt.get("model_meta"), dict):  # an lsat model.pt: its lists must match
            check_lists(ckpt["model_meta"], Path(vocab_path), Path(answers_path), p)
        _check_size(state, "embedding.weight", vocab_size(vocab_path), "tokens", vocab_path, p)
        _check_size(state, "proj.weight", answer_size(answers_path), "answers", answers_path, p)
    own = model.state_dict()
    for key in ("embedding.weight", "proj.weight"):
        if key in own and own[key].shape[0] != state[key].shape[0]:
            raise LsatError(
                f"checkpoint {p} has {key} of size {state[key].shape[0]} but the model was "
                f"built with {own[key].shape[0]}: build it from {vocab_path} and {answers_path}"
            )
    try:
        result = model.load_state_dict(state, strict=False)
    except RuntimeError as err:  # a tensor of another shape (hidden size, orders, ...)
        raise LsatError(f"checkpoint {p} does not fit the model: {err}") from None
    if result.missing_keys or result.unexpected_keys:
        raise LsatError(
            f"checkpoint {p} does not match the model: missing {_few(result.missing_keys)}; "
            f"unexpected {_few(result.unexpected_keys)} (wrong model name, routing, pooling, "
            "orders or dataset format?)"
        )
    return {k: ckpt.get(k) for k in ("epoch", "lr_base", "optimizer")}


def _few(keys: list[str], n: int = 5) -> str:
    if not keys:
        return "none"
    more = f" and {len(keys) - n} more" if len(keys) > n else ""
    return ", ".join(keys[:n]) + more
