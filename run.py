#!/usr/bin/env python3
"""The seed's command line (openvqa/TRAR style) on top of the same engine as ``lsat``.

    python3 run.py --RUN='train' --DATASET='vqa' --MODEL='trar' [--SPLIT train+val+vg]
        [--MAX_EPOCH n] [--GPU '0,1'] [--ACCU n] [--BS n] [--SEED n] [--VERSION v]
        [--RESUME True --CKPT_V v --CKPT_E e] [--CONFIG config/config.yaml]
    python3 run.py --RUN='val'  --DATASET='vqa' --CKPT_V v --CKPT_E e
    python3 run.py --RUN='test' --DATASET='vqa' --CKPT_V v --CKPT_E e
    python3 run.py --RUN='val'  --DATASET='vqa' --CKPT_PATH path/to/epoch13.pkl

Flags become ``--set`` overrides of the dataset's config (model.name, train.max_epoch,
train.grad_accu_steps, train.batch_size, train.seed); files follow openvqa under the
config's ``results_dir``: checkpoints ``ckpts/ckpt_<VERSION>/epoch<E>.pkl``, log
``log/log_run_<VERSION>.txt``, test results ``result_test/result_run_<CKPT_V>_<CKPT_E>.json``
(``result_run_<file stem>.json`` with ``--CKPT_PATH``, which scores any checkpoint, an
official ``epochN.pkl`` included, without a training run).
``--GPU '0,1'`` runs DDP over those devices (CUDA_VISIBLE_DEVICES) with the global batch
divided between them. On a fresh clone the demo world, the features and the vocabulary a
command needs are built first, by the ``lsat`` commands the workflow runs (progress shown);
a real dataset with missing raw files gets one error listing them. See docs/training.md for
the full mapping.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from lsat.errors import LsatError
from lsat.formats import breakdown

DATASETS = ("vqa", "clevr", "demo", "demo-clevr")
MODELS = ("trar", "mcan", "lsat")


def _bool(text: str) -> bool:
    if text.lower() in ("true", "1", "yes"):
        return True
    if text.lower() in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected True or False, got {text!r}")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="openvqa-style front-end of lsat")
    p.add_argument("--RUN", required=True, choices=("train", "val", "test"))
    p.add_argument("--DATASET", required=True, choices=DATASETS)
    p.add_argument("--MODEL", default=None, choices=MODELS, help="default: the config's")
    p.add_argument("--SPLIT", default=None, help="train | train+val | train+val+vg")
    p.add_argument("--MAX_EPOCH", type=int, default=None)
    p.add_argument("--GPU", default=None, help="device ids, e.g. '0' or '0,1,2,3'")
    p.add_argument("--ACCU", type=int, default=None, help="gradient accumulation steps")
    p.add_argument("--BS", type=int, default=None, help="global batch size")
    p.add_argument("--SEED", type=int, default=None)
    p.add_argument("--VERSION", default=None, help="run name (default <MODEL>_<DATASET>)")
    p.add_argument("--RESUME", type=_bool, default=False)
    p.add_argument("--CKPT_V", default=None, help="version of the checkpoint to load")
    p.add_argument("--CKPT_E", type=int, default=None, help="epoch of the checkpoint to load")
    p.add_argument(
        "--CKPT_PATH",
        default=None,
        help="checkpoint file to score (official epochN.pkl or ours); overrides CKPT_V/E",
    )
    p.add_argument("--CONFIG", default="config/config.yaml")
    return p


def overrides(args: argparse.Namespace) -> list[str]:
    sets = []
    for key, value in (
        ("model.name", args.MODEL),
        ("train.max_epoch", args.MAX_EPOCH),
        ("train.grad_accu_steps", args.ACCU),
        ("train.batch_size", args.BS),
        ("train.seed", args.SEED),
    ):
        if value is not None:
            sets.append(f"{key}={value}")
    return sets


def _argv_without_gpu(argv: list[str]) -> list[str]:
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
        elif a == "--GPU":
            skip = True
        elif not a.startswith("--GPU="):
            out.append(a)
    return out


def _versions(ckpt: Path) -> str:
    """The run versions beside ``ckpt``'s folder, for the error message."""
    found = sorted(p.name.removeprefix("ckpt_") for p in ckpt.parent.parent.glob("ckpt_*"))
    return ", ".join(found) or "none"


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    from lsat.cli import main as lsat_main
    from lsat.engine import distributed
    from lsat.engine.fit import load_dataset_config, predict_run, train_run
    from lsat.engine.layout import RunLayout, link_atomic
    from lsat.engine.prepare import image_sets_for, prepare_inputs
    from lsat.engine.resume import ResumeMode
    from lsat.engine.runlock import run_lock
    from lsat.engine.trainer import TrainingInterrupted

    sets = overrides(args)
    ds = load_dataset_config(args.CONFIG, args.DATASET, sets)
    if not distributed.inside_launch():
        # What Snakemake would have built first (demo world, features, vocabulary).
        prepare_inputs(args.CONFIG, ds, image_sets_for(ds, args.RUN), lsat_main)
    gpus = [g for g in (args.GPU or "").split(",") if g.strip()]
    if gpus and not distributed.inside_launch():
        os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(gpus)
        if len(gpus) > 1 and args.RUN == "train":
            script = str(Path(__file__).resolve())
            return distributed.relaunch(len(gpus), [script, *_argv_without_gpu(argv)])
    split = args.SPLIT or ds.train.splits[0]
    results = ds.paths.root.parent
    version = args.CKPT_V if args.RESUME or args.RUN != "train" else args.VERSION
    version = version or args.VERSION or f"{ds.model['name']}_{args.DATASET}"
    layout = RunLayout.openvqa(results, version)
    if args.RUN == "train":
        if args.CKPT_PATH:
            raise LsatError("--CKPT_PATH scores a checkpoint: use it with --RUN val or test")
        mode = ResumeMode.AUTO
        if args.RESUME:
            if args.CKPT_V is None or args.CKPT_E is None:
                raise LsatError("--RESUME True needs --CKPT_V and --CKPT_E")
            wanted = layout.checkpoint(args.CKPT_E)
            if not wanted.is_file():
                raise LsatError(
                    f"--RESUME: no checkpoint {wanted} (version {version!r}, epoch "
                    f"{args.CKPT_E}); versions in {wanted.parent.parent}: {_versions(wanted)}"
                )
            # Rank 0 alone, under the run's lock: never swap last.pkl under a training
            # running there (the other ranks read it after joining rank 0's process group).
            if distributed.env_ranks()[0] == 0:
                with run_lock(layout.lock, f"run folder {layout.checkpoint_dir}"):
                    link_atomic(wanted, layout.last)
            mode = ResumeMode.REQUIRE
        try:
            train_run(args.CONFIG, args.DATASET, split, sets, resume=mode, layout=layout)
        except TrainingInterrupted as stop:
            print(f"run.py: {stop}; checkpoint written, rerun to resume", file=sys.stderr)
            distributed.mark_interrupted(stop.exit_code)
            return stop.exit_code
        print(f"run.py: version {version}: checkpoints in {layout.checkpoint_dir}")
        return 0
    model = layout.checkpoint(args.CKPT_E) if args.CKPT_E is not None else layout.final_model
    label = f"{version}_{args.CKPT_E if args.CKPT_E is not None else 'final'}"
    if args.CKPT_PATH:
        model, label = Path(args.CKPT_PATH), Path(args.CKPT_PATH).stem
    on = "val" if args.RUN == "val" else "test"
    out = results / f"result_{on}" / f"result_run_{label}.json"
    metrics_out = results / "result_val" / f"metrics_run_{label}.json"
    written = predict_run(
        args.CONFIG, args.DATASET, split, on, out, sets, model, metrics_out=metrics_out
    )
    msg = f"run.py: wrote {written['predictions']}"
    if "metrics" in written:
        m = written["metrics"]
        per = breakdown(m)
        msg += f"\nOverall Accuracy is: {m['overall']:.2f}\n{per}"
    print(msg)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except LsatError as err:
        print(f"run.py: error: {err}", file=sys.stderr)
        sys.exit(2)
