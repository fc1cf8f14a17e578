"""GloVe as in the paper: one clear error when the file is missing, one parse per vocabulary."""

from __future__ import annotations

import os

import numpy as np
import pytest

from lsat.data import glove, tokens
from lsat.errors import LsatError


def _files(tmp_path, words=("what", "color", "cube", "PAD")):
    rng = np.random.default_rng(0)
    vectors = {w: rng.standard_normal(300).astype(np.float32) for w in words}
    path = tmp_path / "glove.840B.300d.txt"
    lines = [w + " " + " ".join(f"{x:.6f}" for x in v) for w, v in vectors.items()]
    path.write_text("\n".join(["unused " + " ".join(["0.5"] * 300), *lines]) + "\n")
    vocab = tmp_path / "vocab" / "vocab.json"
    vocab.parent.mkdir()
    token_to_ix = {"PAD": 0, "UNK": 1, "CLS": 2, "what": 3, "color": 4, "sphere": 5}
    tokens.write_vocab(vocab, token_to_ix, 14, ["train"])
    return path, vocab, vectors


class _Counting:
    """The real parser, counting its calls."""

    def __init__(self):
        self.calls = 0
        self.real = tokens.glove_embedding

    def __call__(self, *args, **kwargs):
        self.calls += 1
        return self.real(*args, **kwargs)


def test_parsed_once_then_cached(tmp_path, monkeypatch):
    path, vocab, vectors = _files(tmp_path)
    parser = _Counting()
    monkeypatch.setattr(tokens, "glove_embedding", parser)
    emb, cached = glove.vocab_embedding(path, vocab)
    assert (parser.calls, cached) == (1, False)
    assert emb.shape == (6, 300) and emb.dtype == np.float32
    np.testing.assert_allclose(emb[3], vectors["what"], atol=1e-6)
    np.testing.assert_allclose(emb[0], vectors["PAD"], atol=1e-6)
    assert not emb[5].any()  # "sphere" has no vector
    matrix, meta = glove.cache_paths(vocab)
    assert matrix.parent == vocab.parent and matrix.is_file() and meta.is_file()

    again, cached = glove.vocab_embedding(path, vocab)
    assert (parser.calls, cached) == (1, True)
    np.testing.assert_array_equal(again, emb)

    # another vocabulary content: parsed again, cache replaced
    tokens.write_vocab(vocab, {"PAD": 0, "UNK": 1, "CLS": 2, "cube": 3}, 14, ["train"])
    emb2, cached = glove.vocab_embedding(path, vocab)
    assert (parser.calls, cached, emb2.shape) == (2, False, (4, 300))
    np.testing.assert_allclose(emb2[3], vectors["cube"], atol=1e-6)
    # another GloVe file at the same path (size and mtime change): parsed again
    with open(path, "a") as f:
        f.write("cube " + " ".join(["1.0"] * 300) + "\n")
    os.utime(path, ns=(1, 1))
    emb3, cached = glove.vocab_embedding(path, vocab)
    assert (parser.calls, cached) == (3, False)
    assert emb3[3].tolist() == [1.0] * 300  # the later line wins, as before
    assert glove.vocab_embedding(path, vocab)[1] is True


def test_damaged_cache_is_rebuilt(tmp_path):
    path, vocab, _ = _files(tmp_path)
    emb, _ = glove.vocab_embedding(path, vocab)
    matrix, _ = glove.cache_paths(vocab)
    matrix.write_bytes(b"not numpy")
    again, cached = glove.vocab_embedding(path, vocab)
    assert cached is False
    np.testing.assert_array_equal(again, emb)


def test_missing_file_says_where_to_get_and_put_it(tmp_path):
    _, vocab, _ = _files(tmp_path)
    missing = tmp_path / "data" / "glove" / "glove.840B.300d.txt"
    with pytest.raises(LsatError) as err:
        glove.vocab_embedding(missing, vocab)
    text = str(err.value)
    assert glove.GLOVE_URL in text and str(missing) in text
    assert "vocab.glove: null" in text and "840B" in text
