"""Question tokens, the token vocabulary and GloVe embedding rows (docs/sources.md).

Everything here copies MCAN/TRAR's ``tokenize``/``proc_ques`` so that token ids match the
official checkpoints: the same regular expression, PAD=0, UNK=1, CLS=2, then words in order
of first appearance over all question sources in the official order.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lsat import progress
from lsat.errors import LsatError
from lsat.io import read_json, write_json_atomic

SPECIALS = ("PAD", "UNK", "CLS")
PAD, UNK, CLS = 0, 1, 2
GLOVE_DIM = 300
_STRIP = re.compile(r"([.,'!?\"()*#:;])")


def tokenize(question: str) -> list[str]:
    """Words of a question: lower-case, punctuation removed, '-' and '/' split words."""
    return _STRIP.sub("", question.lower()).replace("-", " ").replace("/", " ").split()


def build_vocab(questions: Iterable[str]) -> dict[str, int]:
    """``token_to_ix``: the specials, then every word in order of first appearance."""
    token_to_ix = {s: i for i, s in enumerate(SPECIALS)}
    for q in questions:
        for w in tokenize(q):
            if w not in token_to_ix:
                token_to_ix[w] = len(token_to_ix)
    return token_to_ix


def encode(question: str, token_to_ix: dict[str, int], max_token: int) -> np.ndarray:
    """Token ids (max_token,) int64: unknown words → UNK, truncated or padded with PAD."""
    ids = np.zeros(max_token, np.int64)
    for i, w in enumerate(tokenize(question)[:max_token]):
        ids[i] = token_to_ix.get(w, UNK)
    return ids


def longest_question(questions: Iterable[str]) -> int:
    """Length in tokens of the longest question (CLEVR's default ``max_token``)."""
    return max((len(tokenize(q)) for q in questions), default=1)


def write_vocab(
    path: str | Path, token_to_ix: dict[str, int], max_token: int, sources: Sequence[str]
) -> None:
    """Write ``vocab.json`` (docs/architecture.md) atomically."""
    write_json_atomic(
        path, {"token_to_ix": token_to_ix, "max_token": max_token, "sources": list(sources)}
    )


def read_vocab(path: str | Path) -> tuple[dict[str, int], int]:
    """Read ``vocab.json``: ``(token_to_ix, max_token)``, checked for the expected layout."""
    data: Any = read_json(path, "vocabulary file")
    if not isinstance(data, dict) or not isinstance(data.get("token_to_ix"), dict):
        raise LsatError(f"vocabulary file {path}: expected an object with 'token_to_ix'")
    token_to_ix = data["token_to_ix"]
    max_token = data.get("max_token")
    if not isinstance(max_token, int) or max_token < 1:
        raise LsatError(f"vocabulary file {path}: 'max_token' must be a positive integer")
    for i, s in enumerate(SPECIALS):
        if token_to_ix.get(s) != i:
            raise LsatError(f"vocabulary file {path}: expected {s} to have id {i}")
    if sorted(token_to_ix.values()) != list(range(len(token_to_ix))):
        raise LsatError(f"vocabulary file {path}: token ids must be 0..{len(token_to_ix) - 1}")
    return token_to_ix, max_token


def glove_embedding(
    glove_path: str | Path | None, token_to_ix: dict[str, int], dim: int = GLOVE_DIM
) -> np.ndarray | None:
    """Embedding matrix (V, dim) float32 from a GloVe text file, or None without one.

    Row i is the vector of token i (the specials use the vectors of the literal strings
    "PAD", "UNK", "CLS", as spaCy gave them to MCAN); words without a vector get zeros.
    Each line is ``word v1 … v_dim``; the word may itself contain spaces (glove.840B has a
    few such lines), so the vector is the last ``dim`` fields. A line with fewer fields,
    or a first line with more, means the file's dimension is not ``dim``: an error naming
    the file and line.
    """
    if glove_path is None:
        return None
    path = Path(glove_path)
    if not path.is_file():
        from lsat.data.glove import missing_message

        raise LsatError(missing_message(path))
    emb = np.zeros((len(token_to_ix), dim), np.float32)
    with open(path, encoding="utf-8", errors="replace") as f:
        for lineno, line in enumerate(progress.bar(f, total=None, desc=f"GloVe {path.name}", unit=" lines"), 1):
            parts = line.rstrip("\n").rstrip(" ").rsplit(" ", dim)
            if len(parts) != dim + 1 or (lineno == 1 and " " in parts[0]):
                found = len(line.split()) - 1
                raise LsatError(
                    f"GloVe file {path}, line {lineno}: expected a word and {dim} values, "
                    f"found {found} values"
                )
            ix = token_to_ix.get(parts[0])
            if ix is None:
                continue
            try:
                emb[ix] = np.asarray(parts[1:], dtype=np.float32)
            except ValueError:
                raise LsatError(
                    f"GloVe file {path}, line {lineno}: the {dim} values of {parts[0]!r} "
                    "are not all numbers"
                ) from None
    return emb
