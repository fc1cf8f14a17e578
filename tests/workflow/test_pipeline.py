"""The whole DAG on tiny data: the demo end to end (report, nothing to redo on a second run)
and the headline command on files laid out under the official VQA-v2 names."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from wf_helpers import TINY_MODEL, TINY_TRAIN, make_project, run, snakemake, text, tiny_config

pytestmark = pytest.mark.slow

NOTHING = "Nothing to be done"


def test_demo_end_to_end_then_nothing_to_do(project):
    snakemake(project, "--cores", "2", timeout=600)
    res = project / "results" / "demo"
    for split in ("train", "train+val"):
        for name in ("model.pt", "metrics.json", "log.txt", "curves.png", "val_metrics.json"):
            assert (res / split / name).is_file(), f"{split}/{name}"
        metrics = json.loads((res / split / "val_metrics.json").read_text())
        assert metrics["val"] == ("held out" if split == "train" else "seen in training")
        assert 0 <= metrics["overall"] <= 100 and set(metrics["perAnswerType"]) == {
            "yes/no",
            "number",
            "other",
        }
    run(
        [
            "lsat",
            "validate-result",
            "--result",
            str(res / "result_test.json"),
            "--questions",
            "data/demo/vqa/v2_OpenEnded_mscoco_test2015_questions.json",
        ],
        project,
    )
    # the fine-tune stage (TINY: train's epoch 1 continued one epoch on train+val)
    assert (res / "finetune" / "model.pt").is_file()
    assert "fine-tune from" in (res / "finetune" / "log.txt").read_text()
    page = (res / "val_summary.html").read_text()
    assert page.count("<tr>") == 3 and "result_test.json" in page

    assert NOTHING in text(snakemake(project, "--cores", "2"))

    snakemake(project, "--report", "report.html")
    report = (project / "report.html").read_text()
    assert "Training curves" in report and "Validation accuracy" in report
    assert "curves.png" in report and "val_summary.html" in report


def _write_npy_features(raw: Path, feats: Path, grid: int, channels: int) -> None:
    """One float16 (S², C) .npy per image, under both official names, like TRAR's release."""
    rng = np.random.default_rng(0)
    for image_set in ("train2014", "val2014", "test2015"):
        (feats / image_set).mkdir(parents=True)
        for i, png in enumerate(sorted((raw / "images" / image_set).glob("*.png"))):
            image_id = int(re.search(r"(\d+)\.png$", png.name).group(1))
            name = f"{image_id}.npy" if i % 2 else f"{png.stem}.jpg.npy"
            arr = rng.standard_normal((grid * grid, channels)).astype(np.float16)
            arr[-1] = 0  # a padding cell
            np.save(feats / image_set / name, arr)


def test_headline_command_on_official_names(tmp_path):
    """`snakemake --cores all results/vqa/result_test.json` with raw files under official
    VQA-v2 names and official-style .npy grid features; a second run does nothing."""
    data = tmp_path / "download"
    run(
        [
            "lsat",
            "demo-data",
            "--out",
            str(data),
            "--train-images",
            "40",
            "--val-images",
            "16",
            "--test-images",
            "16",
            "--vg-images",
            "8",
            "--questions-per-image",
            "3",
            "--image-size",
            "32",
        ],
        tmp_path,
    )
    raw = data / "vqa"
    _write_npy_features(raw, tmp_path / "feats", grid=4, channels=8)
    cfg = tiny_config()
    model = {**TINY_MODEL, "options": {**TINY_MODEL["options"], "img_feat_size": 8}}
    cfg["default_dataset"] = "vqa"
    cfg["datasets"] = {
        "vqa": {
            "format": "vqa",
            "raw_dir": str(raw),
            "features": {"backend": "npy", "source_dir": str(tmp_path / "feats"), "grid": 4},
            "model": model,
            "train": {"splits": ["train+val+vg"], **TINY_TRAIN},
            "resources": {"cpus": 1, "mem_mb": 1000},
        }
    }
    project = make_project(tmp_path / "project", cfg)
    target = "results/vqa/result_test.json"
    snakemake(project, "--cores", "all", target, timeout=600)
    questions = raw / "v2_OpenEnded_mscoco_test2015_questions.json"
    result = json.loads((project / target).read_text())
    test_ids = {q["question_id"] for q in json.loads(questions.read_text())["questions"]}
    assert sorted(r["question_id"] for r in result) == sorted(test_ids)
    assert all(isinstance(r["answer"], str) for r in result)
    run(["lsat", "validate-result", "--result", target, "--questions", str(questions)], project)
    assert NOTHING in text(snakemake(project, "--cores", "all", target))


def test_clevr_layout_result_files(tmp_path):
    """The CLEVR-format demo: CLEVR accuracy per category and both result files."""
    cfg = tiny_config()
    cfg["default_dataset"] = "demo-clevr"
    cfg["datasets"] = {
        "demo-clevr": {
            "format": "clevr",
            "raw_dir": "data/demo/clevr",
            "demo": True,
            "features": {"backend": "pixels", "grid": 4, "cell_pixels": 2},
            "model": TINY_MODEL,
            "train": {"splits": ["train"], **TINY_TRAIN},
            "resources": {"cpus": 1, "mem_mb": 1000},
        }
    }
    project = make_project(tmp_path / "project", cfg)
    out = text(snakemake(project, "--cores", "2", "-p", timeout=600))
    assert "--format clevr" in out
    res = project / "results" / "demo-clevr"
    metrics = json.loads((res / "train" / "val_metrics.json").read_text())
    assert "perCategory" in metrics and 0 <= metrics["overall"] <= 100
    lines = (res / "result_test.txt").read_text().splitlines()
    assert len(lines) == len(json.loads((res / "result_test.json").read_text())) > 0
