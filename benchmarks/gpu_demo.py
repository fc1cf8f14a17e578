"""A short demo training on the device, interrupted by SIGTERM and resumed, then predictions.

The steps of the demo workflow, run with ``lsat``'s own commands (no Snakemake): demo world,
features, vocabulary, then ``lsat train`` with ``gpu`` residency on a GPU (``ram`` on the
CPU) in a child process that receives SIGTERM after ``--kill-after`` steps (the engine's
``LSAT_SIGNAL_AFTER_STEPS`` hook: a real signal, sent by the process to itself at a known
step). It must exit with 143 and leave an interrupt checkpoint inside an epoch; the second
``lsat train`` resumes from it and finishes; ``lsat predict`` writes the val metrics and the
test result file, and ``lsat evaluate`` / ``lsat validate-result`` check them from the
files (the core commands, run where jsonschema may be missing). One JSON object with every
figure goes to stdout and ``--out``.

    python benchmarks/gpu_demo.py --work /tmp/demo --out demo.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import torch
import yaml

from lsat.cli import main as lsat
from lsat.engine import checkpoint

# The demo network of config/config.yaml, read from there so the two cannot drift apart.
SHIPPED_CONFIG = Path(__file__).resolve().parents[1] / "config" / "config.yaml"
NET = yaml.safe_load(SHIPPED_CONFIG.read_text())["datasets"]["demo"]["model"]["options"]
TRAIN = ["--dataset", "demo", "--split", "train"]
TINY_NET = {**NET, "layer": 1, "hidden_size": 16, "ff_size": 32, "flat_out_size": 32}


def write_config(work: Path, tiny: bool, gpu: bool) -> Path:
    """The demo world and a short TRAR run (smaller still for the CPU dry run)."""
    images = {"train": 16, "val": 6, "test": 6, "vg": 1} if tiny else None
    world = {"out_dir": str(work / "data"), "images": images or {}}
    if tiny:
        world.update(questions_per_image=4, image_size=32)
    else:
        world["images"] = {"train": 400, "val": 100, "test": 100, "vg": 1}
    train = {
        "splits": ["train"],
        "batch_size": 16 if tiny else 64,
        "max_epoch": 2 if tiny else 4,
        "warmup_epochs": 1,
        "lr_base": 1e-3,
        "lr_decay_list": [1] if tiny else [3],
        "feature_residency": "gpu" if gpu else "ram",
    }
    cfg = {
        "results_dir": str(work / "results"),
        "demo_world": world,
        "datasets": {
            "demo": {
                "format": "vqa",
                "raw_dir": str(work / "data" / "vqa"),
                "demo": True,
                "features": {"backend": "pixels", "grid": 4, "cell_pixels": 2 if tiny else 8},
                "model": {"name": "trar", "options": TINY_NET if tiny else NET},
                "train": train,
            }
        },
    }
    path = work / "config.yaml"
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return path


def timed(label: str, times: dict[str, float], argv: list[str]) -> None:
    start = time.perf_counter()
    status = lsat(argv)
    times[label] = round(time.perf_counter() - start, 2)
    if status != 0:
        raise SystemExit(f"lsat {' '.join(argv)}: exit status {status}")


def interrupted_train(cfg: Path, kill_after: int, times: dict[str, float]) -> dict[str, Any]:
    """``lsat train`` in a child process that gets SIGTERM after ``kill_after`` steps."""
    env = {**os.environ, "LSAT_SIGNAL_AFTER_STEPS": str(kill_after)}
    cmd = [sys.executable, "-m", "lsat.cli", "train", "--config", str(cfg), *TRAIN]
    start = time.perf_counter()
    proc = subprocess.run([*cmd, "--restart"], env=env, capture_output=True, text=True)
    times["train_until_sigterm"] = round(time.perf_counter() - start, 2)
    ckpt = cfg.parent / "results" / "demo" / "train" / "checkpoints" / "last.pt"
    state = checkpoint.load(ckpt) if ckpt.is_file() else {}
    return {
        "exit_status": proc.returncode,
        "checkpoint_epoch": state.get("epoch"),
        "checkpoint_step": state.get("step"),
        "stderr_tail": proc.stderr[-600:],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", required=True, help="folder for the world and the runs")
    parser.add_argument("--tiny", action="store_true", help="a tiny world (CPU dry run)")
    parser.add_argument("--kill-after", type=int, default=0, help="steps (default: 1.5 epochs)")
    parser.add_argument("--out", help="also write the JSON object to this file")
    args = parser.parse_args()
    gpu = torch.cuda.is_available()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    cfg = write_config(work, args.tiny, gpu)
    c = ["--config", str(cfg)]
    times: dict[str, float] = {}
    timed("demo_data", times, ["demo-data", *c])
    for image_set in ("train2014", "val2014", "test2015"):
        extract = ["extract", *c, "--dataset", "demo", "--image-set", image_set]
        timed(f"extract_{image_set}", times, extract)
    timed("vocab", times, ["vocab", *c, "--dataset", "demo"])
    kill_after = args.kill_after or (3 if args.tiny else 90)
    report: dict[str, Any] = {"device": "cuda" if gpu else "cpu", "kill_after_steps": kill_after}
    report["interrupted"] = interrupted_train(cfg, kill_after, times)
    timed("train_resumed", times, ["train", *c, *TRAIN])
    run = work / "results" / "demo" / "train"
    log = (run / "log.txt").read_text(encoding="utf-8")
    report["resumed"] = "resumed from" in log
    report["epochs"] = [
        {k: e[k] for k in ("epoch", "loss", "samples_per_s")}
        | {"val": (e["val"] or {}).get("overall")}
        for e in json.loads((run / "metrics.json").read_text())["epochs"]
    ]
    timed("predict_val", times, ["predict", *c, *TRAIN, "--on", "val"])
    timed("predict_test", times, ["predict", *c, *TRAIN, "--on", "test"])
    report["val"] = json.loads((run / "val_metrics.json").read_text())["overall"]
    raw = work / "data" / "vqa"
    evaluated = work / "evaluate.json"
    timed("evaluate", times, [
        "evaluate", "--questions", str(raw / "v2_OpenEnded_mscoco_val2014_questions.json"),
        "--annotations", str(raw / "v2_mscoco_val2014_annotations.json"),
        "--predictions", str(run / "val_predictions.json"), "--out", str(evaluated),
    ])  # fmt: skip
    report["evaluate_matches_predict"] = (
        json.loads(evaluated.read_text())["overall"] == report["val"]
    )
    result = work / "results" / "demo" / "result_test.json"
    test_questions = raw / "v2_OpenEnded_mscoco_test2015_questions.json"
    timed("validate_result", times, [
        "validate-result", "--result", str(result), "--questions", str(test_questions)
    ])  # fmt: skip
    report["seconds"] = times
    report["ok"] = (
        report["interrupted"]["exit_status"] == 143
        and (report["interrupted"]["checkpoint_step"] or 0) > 0
        and report["resumed"]
        and report["evaluate_matches_predict"]
    )
    text = json.dumps(report, indent=1)
    print(text, flush=True)
    if args.out:
        Path(args.out).write_text(text + "\n", encoding="utf-8")
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
