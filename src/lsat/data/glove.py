"""GloVe word vectors as the paper uses them, parsed once per vocabulary.

The paper initialises the word embedding with GloVe 840B 300-d (``glove.840B.300d.txt``,
2.2 M lines, 5.6 GB). Reading it takes minutes, and every training run of a dataset uses
the same rows, so the matrix of a vocabulary is cached beside it (``vocab/glove.npy`` and
``vocab/glove.json``, the key it was made from). The cache is used only while the key
matches: the same vocabulary content, the same GloVe file (path, size, modification time)
and dimension; otherwise the file is parsed again and the cache replaced.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from lsat.data import tokens
from lsat.errors import LsatError
from lsat.io import atomic_path, write_json_atomic

GLOVE_URL = "https://nlp.stanford.edu/data/glove.840B.300d.zip"


def missing_message(path: Path, key: str = "vocab.glove") -> str:
    """The one error for a missing GloVe file: where to get it, where to put it, the way out."""
    return (
        f"GloVe file not found: {path} ({key}). The paper's word vectors are GloVe 840B "
        f"300-d: download {GLOVE_URL} (2.0 GB), unzip glove.840B.300d.txt to {path}; or set "
        f"{key}: null in the dataset's config to train with randomly initialised word "
        "embeddings (not the paper's recipe)"
    )


def check_glove(glove_path: str | Path | None) -> None:
    """Fail early (before any data is read) when a configured GloVe file is missing."""
    if glove_path and not Path(glove_path).is_file():
        raise LsatError(missing_message(Path(glove_path)))


def cache_paths(vocab_path: str | Path) -> tuple[Path, Path]:
    """The cached matrix and its key, next to the vocabulary file."""
    folder = Path(vocab_path).parent
    return folder / "glove.npy", folder / "glove.json"


def _key(glove_path: Path, vocab_path: Path, dim: int) -> dict[str, Any]:
    stat = glove_path.stat()
    return {
        "glove": str(glove_path.resolve()),
        "glove_size": stat.st_size,
        "glove_mtime_ns": stat.st_mtime_ns,
        "dim": dim,
        "vocab_sha256": hashlib.sha256(vocab_path.read_bytes()).hexdigest(),
    }


def _read_cache(matrix: Path, meta: Path, key: dict[str, Any], rows: int) -> np.ndarray | None:
    try:
        if json.loads(meta.read_text(encoding="utf-8")) != key:
            return None
        emb = np.load(matrix, allow_pickle=False)
    except (OSError, ValueError):
        return None
    return emb if emb.shape == (rows, key["dim"]) and emb.dtype == np.float32 else None


def vocab_embedding(
    glove_path: str | Path, vocab_path: str | Path, dim: int = tokens.GLOVE_DIM
) -> tuple[np.ndarray, bool]:
    """(V, dim) GloVe matrix of the vocabulary in ``vocab_path``; True when from the cache.

    The first call parses the GloVe file (:func:`lsat.data.tokens.glove_embedding`) and
    writes the cache atomically; later calls with the same key load it.
    """
    glove, vocab = Path(glove_path), Path(vocab_path)
    check_glove(glove)
    token_to_ix, _ = tokens.read_vocab(vocab)
    key = _key(glove, vocab, dim)
    matrix, meta = cache_paths(vocab)
    cached = _read_cache(matrix, meta, key, len(token_to_ix))
    if cached is not None:
        return cached, True
    emb = tokens.glove_embedding(glove, token_to_ix, dim)
    assert emb is not None
    with atomic_path(matrix) as tmp, open(tmp, "wb") as f:
        np.save(f, emb, allow_pickle=False)
    write_json_atomic(meta, key)
    return emb, False
