"""`lsat summary`: the table at the end of `make demo` and in the Snakemake report."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
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


def _sweep_config(tmp_path: Path, n_questions: int = 200) -> tuple[Path, dict]:
    """Two models × two seeds on a val set whose answers are all 'yes'."""
    raw = tmp_path / "raw"
    raw.mkdir()
    anns = [
        {
            "question_id": q,
            "image_id": 1,
            "multiple_choice_answer": "yes",
            "answer_type": "yes/no",
            "answers": [{"answer": "yes"}] * 10,
        }
        for q in range(n_questions)
    ]
    (raw / "v2_mscoco_val2014_annotations.json").write_text(json.dumps({"annotations": anns}))
    cfg = {
        "results_dir": str(tmp_path / "results"),
        "datasets": {
            "demo": {
                "format": "vqa",
                "raw_dir": str(raw),
                "train": {"splits": ["train"], "seeds": [1, 2]},
                "sweep": {"model.name": ["mcan", "trar"]},
            }
        },
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path, cfg


def _run_files(tmp_path: Path, run: str, right: int, n: int = 200) -> None:
    """A run answering the first ``right`` questions correctly."""
    folder = tmp_path / "results" / "demo" / "train" / run
    folder.mkdir(parents=True)
    preds = [{"question_id": q, "answer": "yes" if q < right else "no"} for q in range(n)]
    (folder / "val_predictions.json").write_text(json.dumps(preds))
    acc = 100 * right / n
    (folder / "val_metrics.json").write_text(
        json.dumps({"overall": acc, "perAnswerType": {"yes/no": acc}})
    )


def test_seeds_mean_std_and_paired_comparison(tmp_path, capsys):
    cfg, _ = _sweep_config(tmp_path)
    for run, right in [
        ("model.name=mcan/seed1", 100),
        ("model.name=mcan/seed2", 110),
        ("model.name=trar/seed1", 150),
        ("model.name=trar/seed2", 160),
    ]:
        _run_files(tmp_path, run, right)
    out_html = tmp_path / "s.html"
    assert main(["summary", "--config", str(cfg), "--out", str(out_html)]) == 0
    text = capsys.readouterr().out
    assert "mean ± std over n seeds" in text
    row = next(line for line in text.splitlines() if "model.name=trar" in line and "demo" in line)
    assert row.split()[:5] == ["demo", "train", "model.name=trar", "trar", "2"]
    assert "77.50 ± 3.54" in row  # (75, 80): mean 77.5, sample std 3.54
    line = next(x for x in text.splitlines() if x.startswith("train/model.name=trar - "))
    assert "+25.00 points on 200 val questions" in line and "beyond question noise" in line
    page = out_html.read_text()
    assert "data:image/png;base64," in page and "77.50 ± 3.54" in page

    assert main(["summary", "--config", str(cfg), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)["datasets"][0]
    trar = next(c for c in data["configurations"] if c["config"] == "model.name=trar")
    assert trar["n"] == 2 and trar["seeds"] == [1, 2] and trar["overall"]["values"] == [75, 80]
    assert trar["overall"]["std"] == pytest.approx(3.5355, abs=1e-4)
    comp = data["comparisons"][0]
    assert (comp["a"], comp["b"], comp["difference"]) == (
        "train/model.name=mcan",
        "train/model.name=trar",
        25.0,
    )
    low, high = comp["ci95"]
    assert 0 < low < 25 < high  # the interval around a real difference excludes 0


def test_bootstrap_interval_contains_zero_for_equal_runs():
    from lsat.stats import paired_bootstrap

    rng = np.random.default_rng(1)
    a = [{q: float(rng.random() < 0.6) for q in range(300)}]
    b = [{q: float(rng.random() < 0.6) for q in range(300)}]
    paired = paired_bootstrap(a, b)
    assert paired.low < 0 < paired.high and paired.n_questions == 300
    assert paired_bootstrap(a, b).as_dict() == paired.as_dict()  # fixed seed: reproducible


def test_several_runs_need_a_run_id(tmp_path):
    from lsat.engine.fit import load_run_config

    cfg, _ = _sweep_config(tmp_path)
    with pytest.raises(LsatError, match=r"defines 4 runs per split.*model.name=mcan/seed1"):
        load_run_config(cfg, "demo", [], None)
    ds, run = load_run_config(cfg, "demo", [], "model.name=trar/seed2")
    assert (ds.model["name"], ds.train.seed, run.variant) == ("trar", 2, "model.name=trar")
    assert (
        ds.paths.run_dir("train", run.id) == tmp_path / "results/demo/train/model.name=trar/seed2"
    )
    with pytest.raises(LsatError, match="has no run 'seed3'"):
        load_run_config(cfg, "demo", [], "seed3")
