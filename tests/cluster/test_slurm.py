"""The demo pipeline through a real Slurm cluster (`--executor slurm`), started on this
machine by scripts/slurm/start.sh, with one training job on 2 (fake) GPUs running 2 DDP
processes on the CPU. Skipped where Slurm cannot run here, unless LSAT_REQUIRE_SLURM=1
(set by `make test`, so CI fails instead of skipping)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflow"))
from wf_helpers import BIN, REPO, make_project, run, text, tiny_config

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

PROFILE = Path(__file__).resolve().parent / "profile"


def _unavailable(reason: str):
    if os.environ.get("LSAT_REQUIRE_SLURM") == "1":
        pytest.fail(f"Slurm is required here (LSAT_REQUIRE_SLURM=1) but {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def slurm_env() -> Iterator[dict[str, str]]:
    missing = [c for c in ("slurmctld", "slurmd", "sbatch", "munged") if not shutil.which(c)]
    if missing:
        _unavailable(
            f"not installed: {', '.join(missing)} (apt-get install slurmctld slurmd "
            "slurm-client munge)"
        )
    if os.geteuid() != 0:
        _unavailable("starting the local Slurm cluster needs root")
    proc = subprocess.run(
        ["timeout", "-k", "5", "90", str(REPO / "scripts" / "slurm" / "start.sh")],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        _unavailable(f"scripts/slurm/start.sh failed:\n{proc.stdout}{proc.stderr}")
    conf = proc.stdout.strip().splitlines()[-1].split("=", 1)[1]
    yield {"SLURM_CONF": conf}
    # Stop the daemons this module started; a cluster that was already up stays up.
    if "Slurm already running" not in proc.stdout:
        subprocess.run(
            ["timeout", "-k", "5", "30", str(REPO / "scripts" / "slurm" / "stop.sh")],
            capture_output=True,
            text=True,
        )


def test_demo_through_slurm_with_ddp_training(slurm_env, tmp_path, monkeypatch):
    for key, value in slurm_env.items():
        monkeypatch.setenv(key, value)
    cfg = tiny_config()
    demo = cfg["datasets"]["demo"]
    demo["train"].update(splits=["train"], result_split="train")
    demo["resources"] = {"gpu": 2, "cpus": 2, "mem_mb": 2000, "runtime": 10}
    project = make_project(tmp_path / "project", cfg)
    targets = ["results/demo/result_test.json", "results/demo/train/val_metrics.json"]
    proc = run(
        [
            "timeout",
            "-k",
            "10",
            "420",
            str(BIN / "snakemake"),
            "--workflow-profile",
            str(PROFILE),
            *targets,
        ],
        project,
        timeout=450,
    )
    result = json.loads((project / targets[0]).read_text())
    assert result and all(set(r) == {"question_id", "answer"} for r in result)
    run(
        [
            "lsat",
            "validate-result",
            "--result",
            targets[0],
            "--questions",
            "data/demo/vqa/v2_OpenEnded_mscoco_test2015_questions.json",
        ],
        project,
    )
    run_dir = project / "results" / "demo" / "train"
    assert json.loads((run_dir / "metrics.json").read_text())["world_size"] == 2
    assert "2 process(es)" in (run_dir / "log.txt").read_text()
    # The Slurm job of the training rule really asked for two GPUs and ran `--nproc 2`.
    job = re.search(r"rule train:.*?submitted with SLURM jobid (\d+)", text(proc), flags=re.S)
    assert job, "no Slurm job of the training rule"
    shown = run(["scontrol", "show", "job", job.group(1)], project).stdout
    assert re.search(r"gres/gpu=2|gpu:2", shown), shown
    assert "--signal=B:USR1@120" in text(proc) or "USR1" in shown, "no preemption signal"
    logs = list((project / ".snakemake" / "slurm_logs" / "rule_train").rglob("*.log"))
    assert "--nproc 2" in "".join(p.read_text() for p in logs)
