"""`lsat summary`: the table at the end of `make demo` and in the Snakemake report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from lsat.cli import main
from lsat.config import load_config
from lsat.errors import LsatError
from lsat.summary import collect, read_metrics


def _config(tmp_path: Path) -> Path:
    cfg = {
        "results_dir": str(tmp_path / "results"),
        "datasets": {
            "demo": {
                "format": "vqa",
                "raw_dir": "raw",
                "train": {"splits": ["train", "train+val"]},
            },
            "cl": {"format": "clevr", "raw_dir": "raw2", "model": {"name": "mcan"}},
        },
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _metrics(tmp_path: Path, ds: str, split: str, overall: float, **detail: float) -> None:
    key = "perCategory" if ds == "cl" else "perAnswerType"
    path = tmp_path / "results" / ds / split / "val_metrics.json"
    path.parent.mkdir(parents=True)
    version = {} if ds == "cl" else {"eval_version": "legacy" if split == "train" else "2021"}
    path.write_text(json.dumps({"overall": overall, key: detail, **version}))


def test_prints_table_and_result_path(tmp_path, capsys):
    cfg = _config(tmp_path)
    _metrics(tmp_path, "demo", "train", 61.234, **{"yes/no": 80.0, "number": 40.5})
    _metrics(tmp_path, "demo", "train+val", 70.0, **{"yes/no": 90.0, "other": 55.0})
    (tmp_path / "results/demo/result_test.json").write_text("[]")
    out_html = tmp_path / "summary.html"
    assert main(["summary", "--config", str(cfg), "--out", str(out_html)]) == 0
    text = capsys.readouterr().out
    lines = text.splitlines()
    header = ["dataset", "split", "model", "eval", "val", "overall", "yes/no", "number"]
    assert lines[1].split() == [*header, "other"]
    row = ["demo", "train", "trar", "legacy", "held", "out", "61.23", "80.00", "40.50", "-"]
    assert lines[3].split() == row
    assert lines[4].split()[:7] == ["demo", "train+val", "trar", "2021", "seen", "in", "training"]
    assert "val seen in training: those splits trained on the val questions" in text
    recipe = next(line for line in lines if line.startswith("differs from the paper recipe"))
    assert (
        "GloVe off" in recipe and "evaluation 2021 (the papers' val numbers used legacy)" in recipe
    )
    assert "features: pixels backend" in recipe
    assert f"test result file: {tmp_path}/results/demo/result_test.json\n" in text
    assert "cl" not in [line.split()[0] for line in lines[3:] if line.strip()]  # no results
    page = out_html.read_text()
    assert "<td>61.23</td>" in page and "result_test.json" in page
    assert "<td>seen in training</td>" in page and "differs from the paper recipe" in page


def test_explicit_dataset_needs_every_split(tmp_path):
    cfg = _config(tmp_path)
    _metrics(tmp_path, "demo", "train", 50.0)
    with pytest.raises(LsatError, match=r"split 'train\+val'.*val_metrics.json not found"):
        collect(load_config(cfg), ["demo"])


def test_clevr_and_missing_results(tmp_path, capsys):
    cfg = _config(tmp_path)
    assert main(["summary", "--config", str(cfg)]) == 2
    assert "no val_metrics.json" in capsys.readouterr().err
    _metrics(tmp_path, "cl", "train", 97.5, Count=90.0)
    assert main(["summary", "--config", str(cfg), "--dataset", "cl"]) == 0
    out = capsys.readouterr().out
    assert "cl       train  mcan   exact  held out  97.50    90.00" in out
    assert "seen in training" not in out
    assert "result_test.txt (not built yet)" in out


def test_bad_metrics_file_is_named(tmp_path):
    bad = tmp_path / "val_metrics.json"
    bad.write_text(json.dumps({"accuracy": 3}))
    with pytest.raises(LsatError, match=f"{bad}.*'overall'"):
        read_metrics(bad)
