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
    assert "metrics.tsv" in plots  # per-epoch metrics, one row per epoch

    # The code is a dependency: editing a model file marks the training stages changed.
    model_file = project / "src" / "lsat" / "models" / "trar.py"
    original = model_file.read_text()
    model_file.write_text(original + "\n# an edit\n")
    status = text(dvc(project, "status"))
    assert "train-demo-train:" in status and "modified:           src/lsat" in status, status
    model_file.write_text(original)
    assert "Data and pipelines are up to date" in text(dvc(project, "status"))

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


def test_exp_run_with_a_changed_learning_rate(project):
    """`dvc exp run -S config/config.yaml:datasets.demo.train.lr_base=...` and `dvc exp
    show` comparing the two experiments' settings and val accuracy."""
    for args in (
        ["init", "-q"],
        ["config", "user.email", "t@example.org"],
        ["config", "user.name", "t"],
    ):
        run(["git", *args], project)
    dvc(project, "init", "-q")
    dvc(project, "config", "core.analytics", "false")
    run(["git", "add", "-A"], project)
    run(["git", "commit", "-qm", "baseline"], project)
    dvc(project, "exp", "run", "-n", "lr1e-3")
    dvc(
        project,
        "exp",
        "run",
        "-n",
        "lr3e-3",
        "-S",
        "config/config.yaml:datasets.demo.train.lr_base=0.003",
    )
    assert "lr_base: 0.003" in (project / "config" / "config.yaml").read_text()
    shown = json.loads(dvc(project, "exp", "show", "--json").stdout)
    exps = {
        rev["name"]: rev
        for base in shown
        for exp in base.get("experiments") or []
        for rev in exp["revs"]
    }
    assert {"lr1e-3", "lr3e-3"} <= set(exps)
    lrs = {
        name: e["data"]["params"]["config/config.yaml"]["data"]["datasets"]["demo"]["train"][
            "lr_base"
        ]
        for name, e in exps.items()
    }
    assert lrs["lr1e-3"] == 0.001 and lrs["lr3e-3"] == 0.003
    for e in exps.values():
        metrics = e["data"]["metrics"]["results/demo/train/val_metrics.json"]["data"]
        assert 0 <= metrics["overall"] <= 100
