"""The seed's command line on a fresh clone: run.py builds what it needs first."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
TINY = {"layer": 1, "hidden_size": 16, "ff_size": 32, "multi_head": 2, "flat_mlp_size": 16,
        "flat_out_size": 32, "word_embed_size": 16, "orders": [0, 1]}  # fmt: skip


def _config(root: Path) -> Path:
    cfg = {
        "results_dir": str(root / "results"),
        "demo_world": {
            "out_dir": str(root / "data"),
            "images": {"train": 12, "val": 4, "test": 4, "vg": 4},
            "questions_per_image": 3,
            "image_size": 32,
        },
        "datasets": {
            "demo": {
                "format": "vqa",
                "raw_dir": str(root / "data" / "vqa"),
                "demo": True,
                "features": {"backend": "pixels", "grid": 4, "cell_pixels": 2},
                "model": {"name": "trar", "options": TINY},
                "train": {
                    "splits": ["train"],
                    "batch_size": 16,
                    "warmup_epochs": 0,
                    "lr_decay_list": [5],
                    "cpu_threads": 1,
                },
            },
            "vqa": {"format": "vqa", "raw_dir": str(root / "nothing"), "model": {"name": "trar"}},
        },
    }
    path = root / "config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _run_py(cfg: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, str(REPO / "run.py"), f"--CONFIG={cfg}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=cfg.parent)


def test_train_then_test_with_no_earlier_command(tmp_path):
    cfg = _config(tmp_path)
    proc = _run_py(cfg, "--RUN=train", "--DATASET=demo", "--MODEL=trar", "--MAX_EPOCH=1")
    assert proc.returncode == 0, proc.stderr[-3000:]
    steps = [line for line in proc.stdout.splitlines() if "] building " in line]
    assert [s.split("] building ")[1].split(":")[0] for s in steps] == [
        "the demo world", "train2014 features", "val2014 features", "the vocabulary"
    ]  # fmt: skip
    assert "lsat extract --config" in steps[1]
    assert (tmp_path / "results" / "demo" / "features" / "val2014.h5").is_file()
    proc = _run_py(cfg, "--RUN=test", "--DATASET=demo", "--MODEL=trar")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "[1/1] building test2015 features" in proc.stdout  # only what was missing
    result = tmp_path / "results" / "result_test" / "result_run_trar_demo_final.json"
    qfile = tmp_path / "data" / "vqa" / "v2_OpenEnded_mscoco_test2015_questions.json"
    assert len(json.loads(result.read_text())) == len(json.loads(qfile.read_text())["questions"])
    proc = _run_py(cfg, "--RUN=test", "--DATASET=demo", "--MODEL=trar")
    assert proc.returncode == 0 and "building" not in proc.stdout  # nothing left to build


def test_real_dataset_with_missing_raw_files_lists_them(tmp_path):
    cfg = _config(tmp_path)
    proc = _run_py(cfg, "--RUN=train", "--DATASET=vqa")
    assert proc.returncode == 2, proc.stderr[-3000:]
    err = proc.stderr
    assert "Traceback" not in err and "dataset 'vqa' is missing" in err
    assert "v2_OpenEnded_mscoco_train2014_questions.json  VQA-v2 train questions" in err
    assert "images/train2014" in err and "docs/workflow.md" in err
