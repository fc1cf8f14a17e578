"""A full disk ends in "no space left on device while writing PATH" and leaves the previous
outputs intact (checkpoints, JSON files, feature files)."""

from __future__ import annotations

import errno
import io
import json
from pathlib import Path

import numpy as np
import pytest
from engine_fakes import FakeQA, TinyNet, spec

import lsat.io
from lsat.cli import main
from lsat.engine import checkpoint as ckpt_io
from lsat.engine.distributed import DistEnv
from lsat.engine.trainer import seed_everything, train
from lsat.io import DiskFull, write_json_atomic


class FullDisk(io.FileIO):
    """A real file whose writes fail with ENOSPC once ``budget`` bytes are written."""

    budget = 0

    def write(self, data) -> int:
        if len(data) > self.budget:
            raise OSError(errno.ENOSPC, "No space left on device")
        FullDisk.budget -= len(data)
        return super().write(data)


def test_training_on_a_full_disk_names_disk_and_path_and_keeps_checkpoints(
    tmp_path: Path, monkeypatch
) -> None:
    run = tmp_path / "run"
    seed_everything(1, True)
    train(TinyNet(), FakeQA(), spec(run, max_epoch=1), DistEnv())
    monkeypatch.setattr(FullDisk, "budget", 0)
    monkeypatch.setattr(ckpt_io, "open", FullDisk, raising=False)  # the disk is now full
    with pytest.raises(DiskFull, match=r"no space left on device while writing .*epoch2\.pt"):
        train(TinyNet(), FakeQA(), spec(run, max_epoch=2, lr_decay_list=[1]), DistEnv())
    names = sorted(p.name for p in (run / "checkpoints").iterdir())
    assert names == ["epoch1.pt", "last.pt"]  # no temporary file left behind
    assert ckpt_io.load(run / "checkpoints" / "last.pt")["epoch"] == 1
    assert not (run / "model.pt.tmp").exists()


def test_json_on_a_full_disk_keeps_the_previous_file(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "metrics.json"
    write_json_atomic(path, {"overall": 40.0})
    monkeypatch.setattr(FullDisk, "budget", 0)
    monkeypatch.setattr(lsat.io, "open", lambda p, *a, **k: FullDisk(p, "w"), raising=False)
    with pytest.raises(DiskFull, match=r"no space left on device while writing .*metrics\.json"):
        write_json_atomic(path, {"overall": 50.0, "pad": "x" * 5000})
    assert json.loads(path.read_text()) == {"overall": 40.0}
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


def _npy_folder(tmp_path: Path) -> Path:
    src = tmp_path / "feats"
    src.mkdir()
    for i in (1, 2, 3):
        np.save(src / f"{i}.npy", np.ones((64, 16), np.float16))
    return src


def test_extraction_that_cannot_fit_is_refused_before_writing(tmp_path, monkeypatch, capsys):
    src = _npy_folder(tmp_path)
    usage = lsat.io.shutil.disk_usage(tmp_path)
    monkeypatch.setattr(lsat.io.shutil, "disk_usage", lambda p: usage._replace(free=4000))
    out = tmp_path / "o.h5"
    assert main(["extract", "--backend", "npy", "--input", str(src), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"no space left on device while writing {out}: it needs" in err
    assert not out.exists() and not Path(f"{out}.partial").exists()


def test_extraction_disk_full_midway_is_one_error(tmp_path, monkeypatch):
    from lsat.features.backends import NpyBackend
    from lsat.features.extract import extract
    from lsat.features.store import FeatureWriter

    def full(self, rows, features):  # the error h5py raises on ENOSPC (errno in the text)
        raise RuntimeError(
            "Unable to synchronously flush file (file write failed: errno = 28, "
            "error message = 'No space left on device')"
        )

    monkeypatch.setattr(FeatureWriter, "write", full)
    src = _npy_folder(tmp_path)
    inputs = [(i, src / f"{i}.npy") for i in (1, 2, 3)]
    with pytest.raises(DiskFull, match=r"no space left on device while writing .*o\.h5\.partial"):
        extract(NpyBackend(8), inputs, tmp_path / "o.h5", source="x", log=lambda m: None)
    assert not (tmp_path / "o.h5").exists()
