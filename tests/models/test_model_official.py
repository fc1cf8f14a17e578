"""Loading official-format checkpoints: strict, prefix-tolerant, size mismatches named."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from model_helpers import ANSWERS, TINY, TOKENS, tiny_batch

from lsat.errors import LsatError
from lsat.models import build_model
from lsat.models.official import load_official_checkpoint


def write_vocab(tmp_path: Path, tokens: int, answers: int) -> tuple[Path, Path]:
    vocab = tmp_path / "vocab.json"
    table = {"PAD": 0, "UNK": 1, "CLS": 2} | {f"w{i}": i for i in range(3, tokens)}
    vocab.write_text(json.dumps({"token_to_ix": table, "max_token": 14, "sources": []}))
    ans = tmp_path / "answer_dict.json"
    names = [f"a{i}" for i in range(answers)]
    ans.write_text(
        json.dumps([{a: i for i, a in enumerate(names)}, {str(i): a for i, a in enumerate(names)}])
    )
    return vocab, ans


def save_official(path: Path, model: torch.nn.Module, prefix: str = "") -> None:
    """The official format: {'state_dict', 'optimizer', 'lr_base', 'epoch'}."""
    optim = torch.optim.Adam(model.parameters(), lr=1e-4, betas=(0.9, 0.98), eps=1e-9)
    state = {prefix + k: v for k, v in model.state_dict().items()}
    torch.save(
        {"state_dict": state, "optimizer": optim.state_dict(), "lr_base": 1e-4, "epoch": 13}, path
    )


def make(seed: int, name: str = "trar", **options) -> torch.nn.Module:
    torch.manual_seed(seed)
    return build_model(
        name, format="vqa", token_size=TOKENS, answer_size=ANSWERS, **{**TINY, **options}
    ).eval()


@pytest.mark.parametrize("prefix", ["", "module."])
def test_loads_official_format_strictly(tmp_path: Path, prefix: str) -> None:
    vocab, ans = write_vocab(tmp_path, TOKENS, ANSWERS)
    source, target = make(1), make(2)
    save_official(tmp_path / "epoch13.pkl", source, prefix)
    info = load_official_checkpoint(
        tmp_path / "epoch13.pkl", target, vocab_path=vocab, answers_path=ans
    )
    assert info["epoch"] == 13 and info["lr_base"] == 1e-4 and "param_groups" in info["optimizer"]
    img, ques = tiny_batch()
    with torch.no_grad():
        assert torch.equal(source(img, ques), target(img, ques))


def test_a_model_pt_load_parses_each_list_once(tmp_path: Path, monkeypatch) -> None:
    """An lsat model.pt (content hashes, then sizes checked) reads the vocabulary and the
    answer list once each."""
    import lsat.io
    from lsat.models.official import apply_checkpoint, list_digests

    vocab, ans = write_vocab(tmp_path, TOKENS, ANSWERS)
    source, target = make(1), make(2)
    meta = {**list_digests(vocab, ans), "vocab": str(vocab), "answers": str(ans)}
    lsat.io._digests.clear()  # as in a fresh command
    parses: list[str] = []
    real_load = lsat.io.json.load

    def counting_load(f, *a, **kw):
        parses.append(Path(f.name).name)
        return real_load(f, *a, **kw)

    monkeypatch.setattr(lsat.io.json, "load", counting_load)
    ckpt = {"state_dict": source.state_dict(), "model_meta": meta}
    apply_checkpoint(ckpt, tmp_path / "model.pt", target, vocab, ans)
    assert sorted(parses) == ["answer_dict.json", "vocab.json"]
    img, ques = tiny_batch()
    with torch.no_grad():
        assert torch.equal(source(img, ques), target(img, ques))


def test_vocabulary_mismatch_names_both_sizes_and_the_file(tmp_path: Path) -> None:
    vocab, ans = write_vocab(tmp_path, TOKENS + 5, ANSWERS)
    save_official(tmp_path / "epoch13.pkl", make(1))
    with pytest.raises(
        LsatError, match=rf"embedding.weight for {TOKENS} tokens but .*vocab.json has {TOKENS + 5}"
    ):
        load_official_checkpoint(
            tmp_path / "epoch13.pkl", make(2), vocab_path=vocab, answers_path=ans
        )


def test_answer_mismatch_names_both_sizes_and_the_file(tmp_path: Path) -> None:
    vocab, ans = write_vocab(tmp_path, TOKENS, 3129)
    save_official(tmp_path / "epoch13.pkl", make(1))
    with pytest.raises(
        LsatError, match=rf"proj.weight for {ANSWERS} answers but .*answer_dict.json has 3129"
    ):
        load_official_checkpoint(
            tmp_path / "epoch13.pkl", make(2), vocab_path=vocab, answers_path=ans
        )


def test_other_architecture_and_bad_files_fail_clearly(tmp_path: Path) -> None:
    vocab, ans = write_vocab(tmp_path, TOKENS, ANSWERS)
    save_official(tmp_path / "mcan.pkl", make(1, "mcan"))
    with pytest.raises(LsatError, match=r"missing .*routing_block"):
        load_official_checkpoint(tmp_path / "mcan.pkl", make(2), vocab_path=vocab, answers_path=ans)
    save_official(tmp_path / "orders.pkl", make(1, orders=[0, 1]))
    with pytest.raises(LsatError, match="does not fit the model"):
        load_official_checkpoint(
            tmp_path / "orders.pkl", make(2), vocab_path=vocab, answers_path=ans
        )
    (tmp_path / "junk.pkl").write_bytes(b"not a checkpoint")
    # Not a torch file: one error naming it (no fallback to full unpickling).
    with pytest.raises(LsatError, match=r"junk\.pkl cannot be read"):
        load_official_checkpoint(tmp_path / "junk.pkl", make(2), vocab_path=vocab, answers_path=ans)
    with pytest.raises(LsatError, match="checkpoint not found"):
        load_official_checkpoint(tmp_path / "none.pkl", make(2), vocab_path=vocab, answers_path=ans)
