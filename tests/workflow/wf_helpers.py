"""Helpers of the workflow tests: a private copy of the workflow per test, so that tests
never run Snakemake or DVC in the repository itself.

``project(tmp_path)`` copies Snakefile, workflow/ (schema link resolved), the code (for
DVC's dependency on src/lsat) and the DVC settings into a temporary folder, writes a tiny
config there as config/config.yaml and dvc.yaml generated from it (`lsat dvc-yaml`):
a few dozen 32-pixel images, 2×2-pixel grid cells and a one-layer model trained for one
epoch, so a whole DAG runs in well under a minute on two cores.
"""

from __future__ import annotations

import copy
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent

TINY_MODEL = {
    "name": "trar",
    "options": {
        "layer": 1,
        "hidden_size": 32,
        "ff_size": 64,
        "multi_head": 2,
        "flat_mlp_size": 32,
        "flat_out_size": 64,
        "word_embed_size": 16,
        "orders": [0, 1],
        "img_feat_size": 12,
    },
}
TINY_TRAIN = {
    "batch_size": 32,
    "max_epoch": 1,
    "warmup_epochs": 0,
    "lr_base": 1.0e-3,
    "lr_decay_list": [5],
}
TINY_CONFIG: dict[str, Any] = {
    "results_dir": "results",
    "default_dataset": "demo",
    "demo_world": {
        "out_dir": "data/demo",
        "seed": 0,
        "images": {"train": 40, "val": 16, "test": 16, "vg": 8},
        "questions_per_image": 3,
        "image_size": 32,
    },
    "datasets": {
        "demo": {
            "format": "vqa",
            "eval_version": "2021",
            "finetune": {"from_split": "train", "from_epoch": 1, "split": "train+val", "epochs": 1},
            "raw_dir": "data/demo/vqa",
            "demo": True,
            "features": {"backend": "pixels", "grid": 4, "cell_pixels": 2},
            "vocab": {"glove": None, "answer_dict": None},
            "model": TINY_MODEL,
            "train": {"splits": ["train", "train+val"], "result_split": "train+val", **TINY_TRAIN},
            "resources": {"cpus": 1, "mem_mb": 1000},
        },
    },
}


def tiny_config() -> dict[str, Any]:
    return copy.deepcopy(TINY_CONFIG)


def tool_env() -> dict[str, str]:
    """Environment in which `snakemake`, `dvc` and the rules' `lsat` are this venv's."""
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env.pop("SNAKEMAKE_PROFILE", None)
    return env


def run(cmd: list[str], cwd: Path, timeout: float = 300, check: bool = True):
    """Run a tool in ``cwd``; on failure show its output (the test's only evidence)."""
    proc = subprocess.run(
        cmd, cwd=cwd, env=tool_env(), capture_output=True, text=True, timeout=timeout
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(cmd)} exited {proc.returncode}\n--- stdout\n{proc.stdout[-6000:]}"
            f"\n--- stderr\n{proc.stderr[-6000:]}"
        )
    return proc


def make_project(dest: Path, config: dict[str, Any] | None = None) -> Path:
    """Copy the workflow files into ``dest`` and write ``config`` as config/config.yaml."""
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy2(REPO / "Snakefile", dest / "Snakefile")
    shutil.copytree(REPO / "workflow", dest / "workflow", symlinks=False)
    shutil.copy2(REPO / ".dvcignore", dest / ".dvcignore")
    # The code the DVC stages depend on (src/lsat); the venv still imports the repository's.
    shutil.copytree(
        REPO / "src" / "lsat", dest / "src" / "lsat", ignore=shutil.ignore_patterns("__pycache__")
    )
    (dest / "config").mkdir(exist_ok=True)
    write_config(dest, config if config is not None else tiny_config())
    return dest


def write_config(project: Path, config: dict[str, Any]) -> None:
    """Write config/config.yaml and the dvc.yaml generated from it (as `lsat dvc-yaml`)."""
    from lsat.dvcgen import generate
    from lsat.errors import LsatError

    path = project / "config" / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    try:
        (project / "dvc.yaml").write_text(generate(path))
    except LsatError:  # tests of invalid configs: Snakemake must be the one to refuse it
        (project / "dvc.yaml").unlink(missing_ok=True)


def snakemake(project: Path, *args: str, timeout: float = 300, check: bool = True):
    return run([str(BIN / "snakemake"), *args], project, timeout=timeout, check=check)


def text(proc: subprocess.CompletedProcess) -> str:
    """Everything a tool printed (Snakemake logs to stderr, job lists and -p to stdout)."""
    return proc.stdout + proc.stderr
