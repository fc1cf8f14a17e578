"""Accuracy of a predictions file: VQA (either official version) and CLEVR.

VQA accuracy lives in :mod:`lsat.engine.vqa_eval` (both official ``vqaEval.py`` versions,
docs/sources.md); this module reads the files, checks they describe the same questions, and
adds CLEVR: exact-match accuracy, overall and per category of the program's last function.
Which metric a dataset gets follows its format's answers (:attr:`lsat.formats.Format.
one_answer`): :func:`val_scorer` and :func:`file_scorer` are the one place that chooses.
"""

from __future__ import annotations

import contextlib
import gc
from collections import defaultdict
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Protocol

from lsat.data.clevr import read_questions as read_clevr
from lsat.data.readers import reader
from lsat.data.records import Question
from lsat.data.vqa import check_same_questions, read_annotations, read_question_images
from lsat.engine.vqa_eval import (
    DEFAULT_EVAL_VERSION,
    check_ids,
    pct,
    question_accuracy,
    vqa_accuracy,
)
from lsat.errors import LsatError
from lsat.formats import Format, format_of
from lsat.io import read_json

CLEVR_EVAL_VERSION = "CLEVR exact match per last program function"
__all__ = [
    "clevr_accuracy",
    "evaluate_files",
    "file_scorer",
    "read_predictions",
    "val_scorer",
    "vqa_accuracy",
]


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


class Scorer(Protocol):
    """A format's official metric over a fixed question set (its answers read once)."""

    def __call__(
        self, predictions: dict[int, str], source: str = "val predictions"
    ) -> dict[str, Any]:
        """Overall and per-type accuracy (%), as ``lsat evaluate`` writes it."""
        ...

    def per_question(self, predictions: dict[int, str], source: str) -> dict[int, float]:
        """{question id: accuracy in 0..1} (what the paired bootstrap compares)."""
        ...


class ExactMatch:
    """CLEVR: one exact answer per question, accuracy per category."""

    def __init__(self, questions: list[Question]):
        self.questions = questions

    def __call__(
        self, predictions: dict[int, str], source: str = "val predictions"
    ) -> dict[str, Any]:
        return clevr_accuracy(self.questions, predictions, source)

    def per_question(self, predictions: dict[int, str], source: str) -> dict[int, float]:
        return {q.qid: float(predictions.get(q.qid) == q.answer) for q in self.questions}


class Consensus:
    """VQA: the official consensus of ten human answers, in evaluation ``version``."""

    def __init__(self, annotations: dict[int, dict[str, Any]], version: str):
        self.annotations, self.version = annotations, version

    def __call__(
        self, predictions: dict[int, str], source: str = "val predictions"
    ) -> dict[str, Any]:
        return vqa_accuracy(self.annotations, predictions, source, self.version)

    def per_question(self, predictions: dict[int, str], source: str) -> dict[int, float]:
        missing = sorted(set(self.annotations) - set(predictions))
        if missing:
            raise LsatError(
                f"{source} has no answer for {len(missing)} val question(s) (e.g. {missing[:5]})"
            )
        return {
            qid: question_accuracy(
                predictions[qid], [a["answer"] for a in ann["answers"]], self.version
            )
            for qid, ann in self.annotations.items()
        }


def val_scorer(fmt: Format, raw_dir: str | Path, version: str = DEFAULT_EVAL_VERSION) -> Scorer:
    """The metric of ``fmt`` on the val set of a dataset under ``raw_dir``."""
    if fmt.one_answer:
        return ExactMatch(reader(fmt).load_set(raw_dir, "val"))
    with paused_gc():
        return Consensus(read_annotations(fmt.annotations_of(raw_dir, "val")), version)


def file_scorer(
    fmt: Format, questions: Path, annotations: Path | None, version: str = DEFAULT_EVAL_VERSION
) -> Scorer:
    """The metric of ``fmt`` on the questions of explicit official files."""
    if fmt.one_answer:
        return ExactMatch(read_clevr(questions))
    if annotations is None:
        raise LsatError("VQA evaluation needs --annotations (the official annotation file)")
    anns = read_annotations(annotations)
    check_same_questions(read_question_images(questions), anns, questions, annotations)
    return Consensus(anns, version)


def evaluate_files(
    questions: Path,
    predictions: Path,
    annotations: Path | None = None,
    fmt: str | Format = "vqa",
    version: str = DEFAULT_EVAL_VERSION,
) -> dict[str, Any]:
    """What ``lsat evaluate`` computes from the three files (each parsed once)."""
    with paused_gc():
        preds = read_predictions(predictions)
        scorer = file_scorer(format_of(fmt), questions, annotations, version)
        return scorer(preds, str(predictions))
