"""One writer per run folder: a second training or prediction gets one error naming the
holder (pid and host); the lock of a dead process is taken over."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from lsat.cli import main
from lsat.engine.runlock import RunLocked, run_lock

REPO = Path(__file__).resolve().parents[2]
HOLD = """
import sys, time
from lsat.engine.runlock import run_lock
with run_lock(sys.argv[1], "x"):
    print("held", flush=True)
    time.sleep(60)
"""


@pytest.fixture
def holder():
    """``start(path)`` runs a process holding the lock ``path`` and returns it."""
    procs: list[subprocess.Popen] = []

    def start(path: Path) -> subprocess.Popen:
        proc = subprocess.Popen(
            [sys.executable, "-c", HOLD, str(path)], stdout=subprocess.PIPE, text=True
        )
        procs.append(proc)
        assert proc.stdout.readline().strip() == "held"
        return proc

    yield start
    for proc in procs:
        proc.kill()
        proc.wait()


def _config(tmp_path: Path) -> Path:
    cfg = {
        "results_dir": str(tmp_path / "results"),
        "datasets": {"demo": {"format": "vqa", "raw_dir": str(tmp_path / "raw"), "demo": True}},
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_second_training_and_prediction_are_refused_naming_pid_and_host(tmp_path, holder, capsys):
    cfg = _config(tmp_path)
    run = tmp_path / "results" / "demo" / "train"
    pid = holder(run / ".checkpoints.lock").pid
    c = ["--config", str(cfg), "--dataset", "demo", "--split", "train"]
    assert main(["train", *c]) == 2
    err = capsys.readouterr().err
    assert f"run folder {run} is in use by another process (pid {pid} on" in err
    assert socket.gethostname() in err and "Traceback" not in err
    assert main(["predict", *c, "--on", "val"]) == 2
    assert f"pid {pid} on {socket.gethostname()}" in capsys.readouterr().err
    assert not (run / "checkpoints").exists()


def test_lock_of_a_dead_process_is_taken_over(tmp_path, holder):
    lock = tmp_path / "run" / ".checkpoints.lock"
    proc = holder(lock)
    with pytest.raises(RunLocked, match="in use by another process"), run_lock(lock, "run"):
        pass
    proc.kill()  # kill -9: no clean-up, its pid stays in the file
    proc.wait()
    assert lock.read_text() == f"pid {proc.pid} on {socket.gethostname()}\n"
    with run_lock(lock, "run folder"), run_lock(lock, "run folder"):  # reentrant
        assert lock.read_text() == f"pid {os.getpid()} on {socket.gethostname()}\n"


def test_run_py_resume_does_not_touch_a_locked_run(tmp_path, holder, monkeypatch):
    import importlib.util

    import lsat.engine.prepare

    # Building the demo inputs first (as run.py does on a fresh clone) is beside the point.
    monkeypatch.setattr(lsat.engine.prepare, "prepare_inputs", lambda *a, **k: None)

    spec = importlib.util.spec_from_file_location("run_py", REPO / "run.py")
    run_py = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(run_py)
    ckpts = tmp_path / "results" / "ckpts" / "ckpt_v1"
    ckpts.mkdir(parents=True)
    (ckpts / "epoch1.pkl").write_bytes(b"epoch one")
    (ckpts / "last.pkl").write_bytes(b"the running training's")
    pid = holder(ckpts.with_name(".ckpt_v1.lock")).pid
    argv = ["--RUN=train", "--DATASET=demo", "--CONFIG", str(_config(tmp_path))]
    with pytest.raises(RunLocked, match=f"pid {pid} on"):
        run_py.main([*argv, "--RESUME=True", "--CKPT_V=v1", "--CKPT_E=1"])
    assert (ckpts / "last.pkl").read_bytes() == b"the running training's"
