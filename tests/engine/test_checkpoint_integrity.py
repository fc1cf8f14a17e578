"""Checksummed checkpoints: damage is detected at load, a damaged last.pt falls back to the
newest intact epoch checkpoint, and model.pt is never written from a damaged state."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch
from engine_fakes import FakeQA, TinyNet, spec
from test_engine_pipeline import world  # noqa: F401  (the demo-world fixture)

from lsat.engine import checkpoint as ckpt_io
from lsat.engine.distributed import DistEnv
from lsat.engine.trainer import seed_everything, train
from lsat.errors import LsatError
from lsat.models.official import check_lists, list_digests
from lsat.safe_load import CheckpointDamaged

MARK = 1.2345


def damage(path: Path) -> None:
    """Flip one bit inside the largest tensor's stored bytes (the file still unpickles)."""
    with zipfile.ZipFile(path) as z:
        info = max((i for i in z.infolist() if "/data/" in i.filename), key=lambda i: i.file_size)
    data = bytearray(path.read_bytes())
    name_len, extra_len = struct.unpack(
        "<HH", data[info.header_offset + 26 : info.header_offset + 30]
    )
    start = info.header_offset + 30 + name_len + extra_len
    data[start + info.file_size // 2] ^= 0x10
    path.write_bytes(bytes(data))


def test_damaged_bytes_are_detected(tmp_path: Path) -> None:
    path = tmp_path / "ck.pt"
    ckpt_io.save(path, {"state_dict": {"w": torch.full((64,), MARK)}, "epoch": 1})
    assert ckpt_io.load(path)["epoch"] == 1
    damage(path)
    # torch itself reads the damaged file without complaint (the defect) ...
    assert not torch.equal(
        torch.load(path, weights_only=True)["state_dict"]["w"], torch.full((64,), MARK)
    )
    # ... the checksum does not.
    with pytest.raises(CheckpointDamaged, match=r"ck\.pt is damaged"):
        ckpt_io.load(path)


def _run(root: Path, **kw: object):
    seed_everything(1, True)
    model = TinyNet(dropout=0.1)
    train(model, FakeQA(), spec(root, **kw), DistEnv())
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_damaged_last_falls_back_to_newest_intact_epoch(tmp_path: Path, capsys) -> None:
    run = tmp_path / "run"
    clean = _run(run)
    ckpts = run / "checkpoints"
    damage(ckpts / "last.pt")  # last.pt is epoch3.pt (a hard link): both are damaged
    final = run / "model.pt"
    final.unlink()
    again = _run(run)
    assert "damaged" in capsys.readouterr().err
    assert "newest intact checkpoint" in (run / "log.txt").read_text()
    for k in clean:  # epoch 3 retrained from epoch2.pt: the same weights
        assert torch.equal(clean[k], again[k]), k
    assert ckpt_io.load(ckpts / "last.pt")["epoch"] == 3


def test_no_intact_checkpoint_is_an_error_and_keeps_model_pt(tmp_path: Path) -> None:
    run = tmp_path / "run"
    _run(run, max_epoch=1)
    before = (run / "model.pt").read_bytes()
    damage(run / "checkpoints" / "last.pt")
    with pytest.raises(LsatError, match=r"damaged.*no intact epoch checkpoint.*--restart"):
        _run(run, max_epoch=1)
    assert (run / "model.pt").read_bytes() == before


def _lsat(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "lsat.cli", *args], capture_output=True, text=True, timeout=300
    )


def test_reordered_answer_list_is_refused(world) -> None:  # noqa: F811
    root, cfg = world
    c = ["--config", str(cfg), "--dataset", "demo", "--split", "train"]
    assert _lsat("train", *c, "--set", "train.max_epoch=1").returncode == 0
    answers = root / "results" / "demo" / "vocab" / "answers.json"
    original = answers.read_text()
    ans_to_ix, _ = json.loads(original)
    names = sorted(ans_to_ix, key=ans_to_ix.get)
    names[0], names[1] = names[1], names[0]  # same size, two answers swapped
    answers.write_text(
        json.dumps([{a: i for i, a in enumerate(names)}, {str(i): a for i, a in enumerate(names)}])
    )
    try:
        model = root / "results" / "demo" / "train" / "model.pt"
        for proc in (_lsat("predict", *c, "--on", "val"), _lsat("train", *c)):
            assert proc.returncode == 2, proc.stderr[-2000:]
            assert "Traceback" not in proc.stderr
            assert str(answers) in proc.stderr and "other content" in proc.stderr
        assert str(model) in _lsat("predict", *c, "--on", "val").stderr
    finally:
        answers.write_text(original)
    assert _lsat("predict", *c, "--on", "val").returncode == 0


def test_list_hashes_see_content_not_size_or_layout(tmp_path: Path) -> None:
    vocab, answers = tmp_path / "vocab.json", tmp_path / "answers.json"
    vocab.write_text(json.dumps({"token_to_ix": {"PAD": 0, "UNK": 1, "red": 2, "cube": 3}}))
    answers.write_text(json.dumps([{"yes": 0, "no": 1}, {"0": "yes", "1": "no"}]))
    meta = {"vocab": str(vocab), "answers": str(answers), **list_digests(vocab, answers)}
    vocab.write_text(
        json.dumps({"token_to_ix": {"PAD": 0, "UNK": 1, "red": 2, "cube": 3}}, indent=4)
    )
    check_lists(meta, vocab, answers, Path("model.pt"))  # reformatted: the same
    vocab.write_text(json.dumps({"token_to_ix": {"PAD": 0, "UNK": 1, "cube": 2, "red": 3}}))
    # Same size as the first version: give it a later mtime, as a later edit has (digests
    # are remembered per path, size and mtime within one process).
    st = vocab.stat()
    os.utime(vocab, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    with pytest.raises(
        LsatError, match=r"model\.pt was trained with the vocabulary .*other content"
    ):
        check_lists(meta, vocab, answers, Path("model.pt"))
