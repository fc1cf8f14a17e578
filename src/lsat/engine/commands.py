"""``lsat train``, ``lsat predict``, ``lsat evaluate`` and ``lsat validate-result``.

``lsat train`` resumes automatically from ``checkpoints/last.pt`` when it exists (so a
Snakemake retry or a requeued SLURM job continues where it stopped); ``--resume`` insists on
a checkpoint, ``--restart`` ignores it. SIGTERM/SIGUSR1 write an interrupt checkpoint and
exit with 128 + the signal (143 for SIGTERM, 138 for SIGUSR1). ``--nproc N`` (default:
``resources.gpu`` when above 1) re-executes the command as N DDP processes under torchrun.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from lsat import provenance
from lsat.errors import LsatError
from lsat.formats import FORMATS, VQA, format_of
from lsat.io import read_json, write_json_atomic
from lsat.recipe import label_metrics

DEFAULT_CONFIG = "config/config.yaml"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add this package's subcommands to ``lsat``."""
    _add_train(subparsers)
    _add_predict(subparsers)
    _add_evaluate(subparsers)
    _add_validate_result(subparsers)


def _add_train(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser("train", help="train a model on a training split")
    _common(p)
    p.add_argument("--resume", action="store_true", help="require a checkpoint to resume")
    p.add_argument("--restart", action="store_true", help="ignore an existing checkpoint")
    p.add_argument("--nproc", type=int, default=None, help="DDP processes (default resources.gpu)")
    p.set_defaults(func=_train)


def _add_predict(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser("predict", help="predict val or test answers with a trained model")
    _common(p, split_required=False)
    p.add_argument("--on", required=True, choices=("val", "test"))
    p.add_argument("--out", default=None, help="output file (default: the conventional path)")
    p.add_argument(
        "--checkpoint",
        "--model",
        dest="model",
        default=None,
        help="checkpoint to score: ours (model.pt, epochN.pkl) or an official epochN.pkl "
        "(default: the split's model.pt); no training run needed",
    )
    p.add_argument(
        "--gumbel-eval",
        type=float,
        nargs="?",
        const=10.0,
        default=None,
        metavar="TAU",
        help="val: also score hard routing as the official test does (Gumbel noise at TAU, "
        "default 10 = TAU_MAX), recorded next to the deterministic scores",
    )
    p.add_argument("--gumbel-seed", type=int, default=0, help="seed of that noise (default 0)")
    p.set_defaults(func=_predict)


def _add_evaluate(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser("evaluate", help="VQA/CLEVR accuracy of a predictions file")
    p.add_argument("--questions", required=True, type=Path)
    p.add_argument("--annotations", type=Path, default=None)
    p.add_argument("--predictions", required=True, type=Path)
    p.add_argument("--format", choices=tuple(FORMATS), default=VQA.name)
    p.add_argument(
        "--eval-version",
        choices=("2021", "legacy"),
        default="2021",
        help="official VQA evaluation: 2021 (default, today's vqaEval.py) or legacy (the "
        "openvqa/TRAR-VQA copy behind the papers' val numbers); docs/sources.md",
    )
    p.add_argument(
        "--split",
        default=None,
        help="training split of the model that made the predictions: recorded, and a split "
        "that trained on val is labelled 'seen in training'",
    )
    p.add_argument("--out", type=Path, default=None, help="metrics JSON (default: print only)")
    p.set_defaults(func=_evaluate)


def _add_validate_result(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser("validate-result", help="check a result file before uploading it")
    p.add_argument("--result", required=True, type=Path)
    p.add_argument("--questions", required=True, type=Path, help="the test question file")
    p.add_argument("--format", choices=tuple(FORMATS), default=VQA.name)
    p.add_argument(
        "--submission",
        choices=("full", "test-dev"),
        default="full",
        help="VQA: full (default) refuses a test-dev-only question file; test-dev accepts it",
    )
    p.set_defaults(func=_validate_result)


def _common(p: argparse.ArgumentParser, split_required: bool = True) -> None:
    p.add_argument("--config", default=DEFAULT_CONFIG)
    p.add_argument("--dataset", required=True)
    p.add_argument(
        "--split",
        required=split_required,
        default=None,
        help=None if split_required else "trained split (optional with --checkpoint)",
    )
    p.add_argument(
        "--set",
        dest="sets",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override relative to the dataset, e.g. train.max_epoch=3 (repeatable)",
    )
    p.add_argument(
        "--run",
        default=None,
        metavar="ID",
        help="one of the split's seed/sweep runs, e.g. seed2 or model.name=mcan/seed1 "
        "(needed when train.seeds or sweep define several)",
    )


def _train_argv(args: argparse.Namespace) -> list[str]:
    argv = ["-m", "lsat.cli", "train", "--config", args.config, "--dataset", args.dataset]
    argv += ["--split", args.split]
    for s in args.sets:
        argv += ["--set", s]
    argv += ["--run", args.run] if args.run else []
    argv += ["--resume"] if args.resume else []
    argv += ["--restart"] if args.restart else []
    return argv


def _train(args: argparse.Namespace) -> int:
    from lsat.engine import distributed
    from lsat.engine.fit import load_dataset_config, train_run
    from lsat.engine.resume import ResumeMode
    from lsat.engine.trainer import TrainingInterrupted

    if args.resume and args.restart:
        raise LsatError("--resume and --restart exclude each other")
    nproc = args.nproc
    if nproc is None:
        gpus = load_dataset_config(args.config, args.dataset, args.sets).resources.gpu
        nproc = gpus if gpus > 1 else 1
    if nproc > 1 and not distributed.inside_launch():
        return distributed.relaunch(nproc, _train_argv(args))
    mode = ResumeMode.REQUIRE if args.resume else ResumeMode.AUTO
    mode = ResumeMode.RESTART if args.restart else mode
    try:
        summary = train_run(
            args.config, args.dataset, args.split, args.sets, resume=mode, run=args.run
        )
    except TrainingInterrupted as stop:
        print(f"lsat train: {stop}; checkpoint written, rerun to resume", file=sys.stderr)
        distributed.mark_interrupted(stop.exit_code)
        return stop.exit_code
    last = summary["epochs"][-1] if summary["epochs"] else None
    if last and distributed.env_ranks()[0] == 0:
        val = f", val {last['val']['overall']:.2f}" if last.get("val") else ""
        print(f"lsat train: {summary['completed_epochs']} epochs, loss {last['loss']:.4f}{val}")
    return 0


def _predict(args: argparse.Namespace) -> int:
    from lsat.engine.fit import predict_run, scored_paths

    out, metrics_out, split = args.out, None, args.split
    if split is None:
        if args.model is None:
            raise LsatError("--split is required unless --checkpoint names the model file")
        out, metrics_out, split = scored_paths(args, Path(args.model))
    gumbel = None if args.gumbel_eval is None else (args.gumbel_eval, args.gumbel_seed)
    written = predict_run(
        args.config,
        args.dataset,
        split,
        args.on,
        out,
        args.sets,
        args.model,
        metrics_out,
        gumbel,
        run=args.run,
    )
    msg = f"lsat predict: wrote {written['predictions']}"
    if "metrics" in written:
        m = written["metrics"]
        msg += f" (val accuracy {m['overall']:.2f})\nOverall Accuracy is: {m['overall']:.2f}"
        if "gumbel_eval" in m:
            g = m["gumbel_eval"]
            msg += f"\nwith the official Gumbel noise (tau {g['tau']:g}): {g['overall']:.2f}"
    print(msg)
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from lsat.engine.evaluation import evaluate_files

    start = provenance.now()
    metrics = evaluate_files(
        args.questions, args.predictions, args.annotations, args.format, args.eval_version
    )
    if args.split is not None:
        metrics = label_metrics(metrics, args.split, format_of(args.format).split_parts(args.split))
    if args.out:
        side = provenance.sidecar_path(args.predictions)
        prov = provenance.collect(
            data_files=[args.questions, args.annotations, args.predictions],
            start=start,
            extra={"predictions": read_json(side) if side.is_file() else None},
        )
        write_json_atomic(args.out, {**metrics, "provenance": provenance.finish(prov)})
    print(json.dumps(metrics, indent=2))
    return 0


def _validate_result(args: argparse.Namespace) -> int:
    from lsat.engine.results import validate_result_file

    n, coverage = validate_result_file(args.result, args.questions, args.format, args.submission)
    note = f"; {coverage}" if coverage else ""
    print(f"lsat validate-result: {args.result} is valid ({n} questions{note})")
    return 0
