"""Accuracy of a predictions file: VQA (either official version) and CLEVR.

VQA accuracy lives in :mod:`lsat.engine.vqa_eval` (both official ``vqaEval.py`` versions,
docs/sources.md); this module reads the files, checks they describe the same questions, and
adds CLEVR: exact-match accuracy, overall and per category of the program's last function.
"""

from __future__ import annotations

import contextlib
import gc
from collections import defaultdict
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from lsat.engine.vqa_eval import DEFAULT_EVAL_VERSION, check_ids, pct, vqa_accuracy
from lsat.errors import LsatError
from lsat.io import read_json

CLEVR_EVAL_VERSION = "CLEVR exact match per last program function"
__all__ = ["clevr_accuracy", "evaluate_files", "read_predictions", "vqa_accuracy"]


def clevr_accuracy(
    questions: Iterable[Any], predictions: dict[int, str], source: str = ""
) -> dict[str, Any]:
    """Overall and per-category accuracy (%) of ``predictions`` (CLEVR questions with answers)."""
    qs = list(questions)
    check_ids({q.qid for q in qs}, predictions, source)
    per_cat: dict[str, list[float]] = defaultdict(list)
    accs = []
    for q in qs:
        if q.answer is None:
            raise LsatError(f"{source}: question_index {q.qid} has no answer to evaluate against")
        acc = float(predictions[q.qid] == q.answer)
        accs.append(acc)
        per_cat[q.category or "Other"].append(acc)
    return {
        "evaluation": CLEVR_EVAL_VERSION,
        "num_questions": len(accs),
        "overall": pct(accs),
        "perCategory": {c: pct(v) for c, v in sorted(per_cat.items())},
    }


def read_predictions(path: str | Path) -> dict[int, str]:
    """A predictions/result file ``[{"question_id", "answer"}]`` as {id: answer}, checked."""
    data = read_json(path, "predictions file")
    if not isinstance(data, list):
        raise LsatError(f"predictions file {path}: expected a JSON array of objects")
    out: dict[int, str] = {}
    for i, item in enumerate(data):
        if not isinstance(item, dict) or not isinstance(item.get("answer"), str):
            raise LsatError(f"predictions file {path}: entry #{i} has no string 'answer'")
        qid = item.get("question_id")
        if not isinstance(qid, int) or isinstance(qid, bool):
            raise LsatError(f"predictions file {path}: entry #{i} has no integer 'question_id'")
        if qid in out:
            raise LsatError(f"predictions file {path}: question id {qid} appears more than once")
        out[qid] = item["answer"]
    return out


@contextlib.contextmanager
def paused_gc() -> Iterator[None]:
    """No cyclic garbage collection while millions of long-lived objects are made.

    Parsing VQA-v2 val's annotations creates ~2.4 M dicts and strings, none of them garbage;
    each automatic collection re-scans all of them, which costs about a third of an
    evaluation. Nothing made here forms cycles, so reference counting frees it all.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def evaluate_files(
    questions: Path,
    predictions: Path,
    annotations: Path | None = None,
    fmt: str = "vqa",
    version: str = DEFAULT_EVAL_VERSION,
) -> dict[str, Any]:
    """What ``lsat evaluate`` computes from the three files (each parsed once)."""
    with paused_gc():
        return _evaluate_files(questions, predictions, annotations, fmt, version)


def _evaluate_files(
    questions: Path, predictions: Path, annotations: Path | None, fmt: str, version: str
) -> dict[str, Any]:
    preds = read_predictions(predictions)
    if fmt == "clevr":
        from lsat.data.clevr import read_questions as read_clevr

        return clevr_accuracy(read_clevr(questions), preds, str(predictions))
    if annotations is None:
        raise LsatError("VQA evaluation needs --annotations (the official annotation file)")
    from lsat.data.vqa import check_same_questions, read_annotations, read_question_images

    anns = read_annotations(annotations)
    check_same_questions(read_question_images(questions), anns, questions, annotations)
    return vqa_accuracy(anns, preds, str(predictions), version)
