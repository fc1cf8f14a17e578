"""VQA accuracy exactly as the official evaluation computes it, and CLEVR accuracy.

VQA (DATA.md §5): the 2021 ``vqaEval.py`` of the VQA API. Per question, tabs/newlines in
the answers become spaces and they are stripped; the prediction is always normalised
(``processPunctuation`` + ``processDigitArticle`` from :mod:`lsat.data.answers`); the 10
human answers are normalised only when they disagree; the accuracy is the mean over the 10
leave-one-out subsets of min(1, matches among the other 9 / 3). Overall and per answer
type are percentages of the unrounded per-question accuracies, rounded to 2 decimals.

CLEVR: exact-match accuracy, overall and per category of the program's last function.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from lsat.data.answers import process_digit_article, process_punctuation
from lsat.errors import LsatError
from lsat.io import read_json

VQA_EVAL_VERSION = "vqaEval 2021 (prediction always normalised; human answers when they disagree)"
CLEVR_EVAL_VERSION = "CLEVR exact match per last program function"


def _clean(text: str) -> str:
    return text.replace("\n", " ").replace("\t", " ").strip()


def _normalise(text: str) -> str:
    return process_digit_article(process_punctuation(text))


def question_accuracy(prediction: str, human_answers: list[str]) -> float:
    """Official accuracy of one prediction against the annotators' answers (0..1)."""
    gts = [_clean(a) for a in human_answers]
    pred = _normalise(_clean(prediction))
    if len(set(gts)) > 1:
        gts = [_normalise(a) for a in gts]
    accs = []
    for i in range(len(gts)):
        matches = sum(1 for j, a in enumerate(gts) if j != i and a == pred)
        accs.append(min(1.0, matches / 3))
    return sum(accs) / len(accs)


def vqa_accuracy(
    annotations: dict[int, dict[str, Any]], predictions: dict[int, str], source: str = ""
) -> dict[str, Any]:
    """Overall, per-answer-type and per-question-type accuracy (%) of ``predictions``.

    Like the official ``vqaEval``, ``perQuestionType`` groups by the annotation's
    ``question_type`` (its first words: "how many", "is there", ...), which tells the
    question families apart where answer types mix them.
    """
    _check_ids(set(annotations), predictions, source)
    per_type: dict[str, list[float]] = defaultdict(list)
    per_question_type: dict[str, list[float]] = defaultdict(list)
    accs = []
    for qid, ann in annotations.items():
        acc = question_accuracy(predictions[qid], [a["answer"] for a in ann["answers"]])
        accs.append(acc)
        per_type[ann.get("answer_type") or "unknown"].append(acc)
        per_question_type[ann.get("question_type") or "unknown"].append(acc)
    return {
        "evaluation": VQA_EVAL_VERSION,
        "num_questions": len(accs),
        "overall": _pct(accs),
        "perAnswerType": {t: _pct(v) for t, v in sorted(per_type.items())},
        "perQuestionType": {t: _pct(v) for t, v in sorted(per_question_type.items())},
    }


def clevr_accuracy(
    questions: Iterable[Any], predictions: dict[int, str], source: str = ""
) -> dict[str, Any]:
    """Overall and per-category accuracy (%) of ``predictions`` (CLEVR questions with answers)."""
    qs = list(questions)
    _check_ids({q.qid for q in qs}, predictions, source)
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
        "overall": _pct(accs),
        "perCategory": {c: _pct(v) for c, v in sorted(per_cat.items())},
    }


def _pct(values: list[float]) -> float:
    return round(100 * sum(values) / len(values), 2) if values else 0.0


def _check_ids(expected: set[int], predictions: dict[int, str], source: str) -> None:
    missing = sorted(expected - set(predictions))
    extra = sorted(set(predictions) - expected)
    if missing or extra:
        raise LsatError(
            f"predictions {source} do not correspond to the evaluated questions: "
            f"{len(missing)} question id(s) missing (e.g. {missing[:5]}), "
            f"{len(extra)} unknown (e.g. {extra[:5]})"
        )


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


def evaluate_files(
    questions: Path, predictions: Path, annotations: Path | None = None, fmt: str = "vqa"
) -> dict[str, Any]:
    """What ``lsat evaluate`` computes from the three files."""
    preds = read_predictions(predictions)
    if fmt == "clevr":
        from lsat.data.clevr import read_questions as read_clevr

        return clevr_accuracy(read_clevr(questions), preds, str(predictions))
    if annotations is None:
        raise LsatError("VQA evaluation needs --annotations (the official annotation file)")
    from lsat.data.vqa import read_annotations, read_questions

    qids = {q.qid for q in read_questions(questions)}
    anns = read_annotations(annotations)
    unknown = sorted(set(anns) - qids)
    if unknown:
        raise LsatError(
            f"annotation file {annotations} has {len(unknown)} question id(s) missing from "
            f"{questions} (e.g. {unknown[:5]})"
        )
    return vqa_accuracy(anns, preds, str(predictions))
