"""benchmarks/gpu_check.sh passes its CPU dry run, on a machine made to look bare.

The dry run hides the GPU (``CUDA_VISIBLE_DEVICES=``) and blocks jsonschema, Snakemake and
DVC, as the lent GPU machines lack them (and tqdm and matplotlib, which the code does
without): the smoke test of each model (tiny, not compiled)
and the demo training with SIGTERM, resume and predictions must pass there.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_gpu_check_dry_run(tmp_path: Path) -> None:
    out = tmp_path / "out"
    env = {
        **os.environ,
        "CUDA_VISIBLE_DEVICES": "",
        "OUT": str(out),
        "PYTHON": sys.executable,
        "LSAT_GPU_CHECK_BLOCK": "jsonschema snakemake dvc tqdm matplotlib",
        "TMPDIR": str(tmp_path),
    }
    proc = subprocess.run(
        ["bash", str(REPO / "benchmarks" / "gpu_check.sh")],
        env=env,
        capture_output=True,
        text=True,
        timeout=880,
    )
    summary = (out / "summary.txt").read_text()
    assert proc.returncode == 0, summary + proc.stderr[-2000:]
    assert "CPU dry run" in summary and "0 step(s) failed" in summary

    rows = [json.loads(line) for line in (out / "smoke.jsonl").read_text().splitlines()]
    assert {r["model"] for r in rows} == {"trar", "mcan", "lsat"}
    assert all(r["ok"] for r in rows), rows
    checks = {(r["model"], r["check"]) for r in rows}
    for model in ("trar", "mcan", "lsat"):
        for check in ("sdpa-vs-explicit", "train-fp32", "train-bf16", "step-no-sync"):
            assert (model, check) in checks
    assert all(r["host_syncs"] == 0 for r in rows if r["check"] == "step-no-sync")

    demo = json.loads((out / "demo.json").read_text())
    assert demo["ok"] and demo["interrupted"]["exit_status"] == 143
    assert demo["interrupted"]["checkpoint_step"] > 0 and demo["resumed"]
    assert 0 <= demo["val"] <= 100 and demo["evaluate_matches_predict"]
    assert {"evaluate", "validate_result", "predict_test"} <= set(demo["seconds"])
    # jsonschema really was missing: the built-in config checker ran.
    log = (out / "logs.txt").read_text()
    assert "jsonschema is not installed" in log and "matplotlib is not installed" in log
    assert not list(tmp_path.glob("lsat-gpu-check.*")), "the work folder is removed"
    # The device tool returns at most 8 files: the GPU run writes 6 (bench.jsonl besides).
    assert sorted(p.name for p in out.iterdir()) == [
        "demo.json", "env.txt", "logs.txt", "smoke.jsonl", "summary.txt"
    ]  # fmt: skip
