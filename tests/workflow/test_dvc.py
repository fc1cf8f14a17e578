"""DVC: `dvc repro` builds the demo, `dvc push`/`pull` through a local remote restores every
output byte-identical, and afterwards Snakemake (after `--touch`) has nothing to rerun."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
from wf_helpers import BIN, run, snakemake, text

pytestmark = pytest.mark.slow


def dvc(project: Path, *args: str, timeout: float = 600):
    return run([str(BIN / "dvc"), *args], project, timeout=timeout)


def digests(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for folder in ("results", "data")
        for p in sorted((root / folder).rglob("*"))
        if p.is_file()
        and "checkpoints" not in p.parts
        and p.name != ".gitignore"
        and not p.name.endswith(".lock")  # a run folder's writer lock: not pipeline data
    }


def test_repro_push_pull_round_trip(project, tmp_path):
    run(["git", "init", "-q"], project)
    dvc(project, "init", "-q")
    dvc(project, "config", "core.analytics", "false")
    dvc(project, "repro")
    result = project / "results" / "demo" / "result_test.json"
    assert isinstance(json.loads(result.read_text()), list)
    metrics = json.loads(dvc(project, "metrics", "show", "--json").stdout)
    assert "results/demo/train/val_metrics.json" in json.dumps(metrics)
    assert "Data and pipelines are up to date" in text(dvc(project, "status"))
    plots = dvc(project, "plots", "show", "--json").stdout
    assert "Training loss" in plots and "curves.png" in plots and '"loss"' in plots

    before = digests(project)
    assert "results/demo/train+val/model.pt" in before and "data/demo/vqa/DEMO_WORLD.json" in before
    dvc(project, "remote", "add", "-d", "storage", str(tmp_path / "remote"))
    dvc(project, "push")
    for folder in ("results", "data", ".dvc/cache"):
        shutil.rmtree(project / folder)
    dvc(project, "pull")
    assert digests(project) == before

    # Pulled files carry new mtimes in no particular order: --touch records them as current.
    snakemake(project, "--touch", "--cores", "1")
    assert "Nothing to be done" in text(snakemake(project, "-n"))
