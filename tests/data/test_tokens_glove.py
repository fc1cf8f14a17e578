"""Tokenizer, vocabulary order, encoding and GloVe rows as MCAN/TRAR build them."""

import json

import numpy as np
import pytest

from lsat.data.tokens import build_vocab, encode, glove_embedding, read_vocab, tokenize, write_vocab
from lsat.errors import LsatError


def test_tokenize_official_regex():
    assert tokenize("What's the man's name?") == ["whats", "the", "mans", "name"]
    assert tokenize("Is this a black-and-white photo?") == [
        "is", "this", "a", "black", "and", "white", "photo",
    ]  # fmt: skip
    assert tokenize('Left/right: "A" (b)*#;!') == ["left", "right", "a", "b"]
    assert tokenize("Is it 2.5 or 1,000?") == ["is", "it", "25", "or", "1000"]


def test_vocab_specials_then_first_appearance():
    vocab = build_vocab(["Is it red?", "What is red-blue?"])
    assert vocab == {"PAD": 0, "UNK": 1, "CLS": 2, "is": 3, "it": 4, "red": 5, "what": 6,
                     "blue": 7}  # fmt: skip


def test_encode_truncates_pads_and_marks_unknown_words():
    vocab = build_vocab(["a b c"])
    ids = encode("a b zzz c", vocab, 6)
    assert ids.dtype == np.int64
    assert ids.tolist() == [3, 4, 1, 5, 0, 0]
    long = encode(" ".join(["a"] * 20), vocab, 14)
    assert long.tolist() == [3] * 14


def test_vocab_file_round_trip_and_checks(tmp_path):
    path = tmp_path / "vocab.json"
    vocab = build_vocab(["a b"])
    write_vocab(path, vocab, 14, ["q.json"])
    assert read_vocab(path) == (vocab, 14)
    path.write_text(json.dumps({"token_to_ix": {"UNK": 0}, "max_token": 14}))
    with pytest.raises(LsatError, match=r"vocab\.json: expected PAD to have id 0"):
        read_vocab(path)


def _glove_line(word, vec):
    return word + " " + " ".join(f"{v:.4f}" for v in vec) + "\n"


def test_glove_rows(tmp_path):
    rng = np.random.default_rng(0)
    vecs = {w: rng.standard_normal(300).astype(np.float32) for w in ("PAD", "UNK", "red", "is")}
    path = tmp_path / "glove.txt"
    with open(path, "w") as f:
        f.write(_glove_line("red", vecs["red"]))
        f.write(_glove_line(". . .", rng.standard_normal(300)))  # glove.840B has such lines
        for w in ("PAD", "UNK", "is"):
            f.write(_glove_line(w, vecs[w]))
    vocab = build_vocab(["Is it red?"])
    emb = glove_embedding(path, vocab)
    assert emb.shape == (len(vocab), 300) and emb.dtype == np.float32
    np.testing.assert_allclose(emb[vocab["red"]], vecs["red"], atol=1e-4)
    np.testing.assert_allclose(emb[vocab["PAD"]], vecs["PAD"], atol=1e-4)
    np.testing.assert_allclose(emb[vocab["is"]], vecs["is"], atol=1e-4)
    assert not emb[vocab["it"]].any() and not emb[vocab["CLS"]].any()


def test_no_glove_file_means_random_init():
    assert glove_embedding(None, build_vocab(["a"])) is None


def test_glove_wrong_dimension_names_file_and_line(tmp_path):
    path = tmp_path / "glove.6B.50d.txt"
    path.write_text(_glove_line("red", np.zeros(50)))
    with pytest.raises(
        LsatError, match=r"glove\.6B\.50d\.txt, line 1: expected a word and 300 values, found 50"
    ):
        glove_embedding(path, build_vocab(["red"]))
    path.write_text(_glove_line("red", np.zeros(300)) + _glove_line("is", np.zeros(299)))
    with pytest.raises(LsatError, match=r"line 2: expected a word and 300 values"):
        glove_embedding(path, build_vocab(["red is"]))
    with pytest.raises(LsatError, match="GloVe file not found"):
        glove_embedding(tmp_path / "nope.txt", build_vocab(["red"]))
