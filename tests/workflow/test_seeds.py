"""Seeds through the workflow: `train.seeds: [1, 2]` trains one run per seed (one Snakemake
job each, in seed{N}/ folders) and `lsat summary` reports mean ± std over them."""

from __future__ import annotations

import json

import pytest
from wf_helpers import make_project, run, snakemake, text, tiny_config

pytestmark = pytest.mark.slow


def test_two_seeds_run_through_snakemake_and_summarise(tmp_path):
    cfg = tiny_config()
    demo = cfg["datasets"]["demo"]
    demo["train"].update(splits=["train"], result_split="train", seeds=[1, 2], max_epoch=1)
    demo["finetune"] = None  # a fine-tune continues a single run
    project = make_project(tmp_path / "project", cfg)
    out = text(snakemake(project, "--cores", "2", "-p", timeout=600))
    assert out.count("lsat train --config") == 2 and "--run seed2" in out
    res = project / "results" / "demo" / "train"
    for seed in (1, 2):
        metrics = json.loads((res / f"seed{seed}" / "metrics.json").read_text())
        assert metrics["settings"]["train"]["seed"] == seed
        assert (res / f"seed{seed}" / "val_metrics.json").is_file()
    assert not (res / "model.pt").exists()  # several seeds: no run in the split folder itself
    summary = run(["lsat", "summary"], project).stdout
    row = next(line for line in summary.splitlines() if line.startswith("demo "))
    assert row.split()[2:5] == ["-", "trar", "2"] and "±" in row, summary
    page = (project / "results" / "demo" / "val_summary.html").read_text()
    assert "data:image/png;base64," in page  # the plot of the spread
