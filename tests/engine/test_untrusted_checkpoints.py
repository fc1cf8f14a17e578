"""No code runs from a checkpoint: a malicious pickle is refused through every entry point.

The file below unpickles into ``os.system("touch MARKER")`` under full unpickling. Each way
a user hands the project a checkpoint (``model.checkpoint``, the automatic resume from
``last.pt``, ``lsat predict --model``, ``run.py --RESUME``) must end in exit status 2, one
line naming the file and the refused global, no traceback, and no marker file.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from test_engine_pipeline import REPO, world  # noqa: F401  (the demo-world fixture)

from lsat.errors import LsatError
from lsat.safe_load import safe_torch_load


class Evil:
    """Unpickles into a shell command that creates ``marker``."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def write_evil(path: Path, marker: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"state_dict": {"w": torch.zeros(2)}, "optimizer": {}, "lr_base": 1e-4}
    torch.save({**payload, "epoch": Evil(marker)}, path)
    return path


def _run(args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, timeout=300, cwd=REPO
    )


def _assert_refused(proc: subprocess.CompletedProcess, file: Path, marker: Path) -> None:
    assert not marker.exists(), "the checkpoint's code ran"
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if "error" in ln]
    assert len(lines) == 1, proc.stderr
    assert str(file) in lines[0] and "system" in lines[0] and "refused" in lines[0]


def test_safe_load_refuses_code_and_reads_plain_files(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    evil = write_evil(tmp_path / "evil.pt", marker)
    with pytest.raises(LsatError, match=r"evil\.pt refused: .*'(posix|os)\.system'"):
        safe_torch_load(evil)
    assert not marker.exists()
    # The control: the same file does run code under full unpickling (the test can fail).
    torch.load(evil, weights_only=False)
    assert marker.exists()
    plain = tmp_path / "plain.pt"
    torch.save({"state_dict": {"w": torch.ones(2)}, "epoch": 13, "lr_base": 1e-4}, plain)
    assert safe_torch_load(plain)["epoch"] == 13
    (tmp_path / "empty.pt").write_bytes(b"")
    with pytest.raises(LsatError, match=r"empty\.pt is empty"):
        safe_torch_load(tmp_path / "empty.pt")


def test_model_checkpoint_key_refuses_code(world, tmp_path: Path) -> None:  # noqa: F811
    _root, cfg = world
    marker = tmp_path / "marker"
    evil = write_evil(tmp_path / "epoch13.pkl", marker)
    c = ["-m", "lsat.cli", "train", "--config", str(cfg), "--dataset", "demo"]
    c += ["--split", "train", "--set", f"model.checkpoint={evil}", "--restart"]
    _assert_refused(_run(c), evil, marker)


def test_automatic_resume_refuses_code(world, tmp_path: Path) -> None:  # noqa: F811
    root, cfg = world
    marker = tmp_path / "marker"
    run = root / "results" / "demo" / "train"
    shutil.rmtree(run, ignore_errors=True)
    last = write_evil(run / "checkpoints" / "last.pt", marker)
    c = ["-m", "lsat.cli", "train", "--config", str(cfg), "--dataset", "demo", "--split", "train"]
    _assert_refused(_run(c), last, marker)
    assert not (run / "model.pt").exists()


def test_predict_model_refuses_code(world, tmp_path: Path) -> None:  # noqa: F811
    _root, cfg = world
    marker = tmp_path / "marker"
    evil = write_evil(tmp_path / "model.pt", marker)
    c = ["-m", "lsat.cli", "predict", "--config", str(cfg), "--dataset", "demo"]
    c += ["--split", "train", "--on", "val", "--model", str(evil)]
    _assert_refused(_run(c), evil, marker)


def test_run_py_resume_refuses_code(world, tmp_path: Path) -> None:  # noqa: F811
    root, cfg = world
    marker = tmp_path / "marker"
    evil = write_evil(root / "results" / "ckpts" / "ckpt_evil" / "epoch1.pkl", marker)
    c = [str(REPO / "run.py"), "--RUN=train", "--DATASET=demo", "--CONFIG", str(cfg)]
    c += ["--RESUME=True", "--CKPT_V=evil", "--CKPT_E=1"]
    proc = _run(c)
    last = evil.with_name("last.pkl")
    assert not marker.exists()
    assert str(evil) in proc.stderr or str(last) in proc.stderr, proc.stderr
    _assert_refused(proc, evil if str(evil) in proc.stderr else last, marker)


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--CKPT_V=nope", "--CKPT_E=3"], "no checkpoint {res}/ckpts/ckpt_nope/epoch3.pkl"),
        (["--CKPT_V=nope"], "--RESUME True needs --CKPT_V and --CKPT_E"),
    ],
)
def test_run_py_resume_of_a_missing_version_or_epoch(world, flags, message) -> None:  # noqa: F811
    root, cfg = world
    c = [str(REPO / "run.py"), "--RUN=train", "--DATASET=demo", "--CONFIG", str(cfg)]
    proc = _run([*c, "--RESUME=True", *flags])
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert message.format(res=root / "results") in proc.stderr


def test_predict_checkpoint_and_run_py_ckpt_path_refuse_code(world, tmp_path: Path) -> None:  # noqa: F811
    _root, cfg = world
    marker = tmp_path / "marker"
    evil = write_evil(tmp_path / "epoch13.pkl", marker)
    c = ["-m", "lsat.cli", "predict", "--config", str(cfg), "--dataset", "demo"]
    _assert_refused(_run([*c, "--on", "val", "--checkpoint", str(evil)]), evil, marker)
    c = [str(REPO / "run.py"), "--RUN=val", "--DATASET=demo", "--CONFIG", str(cfg)]
    _assert_refused(_run([*c, "--CKPT_PATH", str(evil)]), evil, marker)
