"""Readers of the official VQA-v2 (and Visual Genome augmentation) question/annotation files.

VG files (``VG_questions.json``/``VG_annotations.json``) have the VQA format, so one reader
serves both. Every item is checked; the error names the file and the question id.
"""

from __future__ import annotations

import operator
from pathlib import Path
from typing import Any

from lsat.data.records import Question, question_text, require, top_list, unique_questions
from lsat.errors import LsatError
from lsat.io import read_json
from lsat.formats import VQA

_QID = operator.itemgetter("question_id")


def _question_ok(item: object) -> bool:
    """Fast check of one question item; the checking loop names what is wrong."""
    try:
        text = item["question"]  # type: ignore[index]
        return (
            type(item) is dict
            and type(item["question_id"]) is int
            and type(item["image_id"]) is int
            and type(text) is str
            and text != ""
            and not text.isspace()  # what question_text's strip() refuses
        )
    except (KeyError, TypeError, IndexError):
        return False


def _checked_items(path: str | Path) -> tuple[Path, list[dict[str, Any]]]:
    """The question items of a VQA question file, every key checked, ids unique.

    Well-formed files (all of them, in practice) take one pass of exact type tests;
    otherwise the slow loop raises the error naming the first bad item (the per-key checks
    were most of ``lsat validate-result``'s time on test2015: benchmarks/RESULTS.md,
    "VQA-v2-sized bookkeeping and banks").
    """
    p = Path(path)
    items = top_list(read_json(p, "VQA question file"), "questions", p)
    if all(map(_question_ok, items)) and len(set(map(_QID, items))) == len(items):
        return p, items
    for _qid, item, where in unique_questions(items, "question_id", p, "question id"):
        require(item, "image_id", int, p, where)
        question_text(item, p, where)
    return p, items  # the loop raised for any item the fast pass refused


def read_questions(path: str | Path) -> list[Question]:
    """Questions of a VQA question file, in file order (answers left empty)."""
    _p, items = _checked_items(path)
    return [Question(i["question_id"], i["image_id"], i["question"]) for i in items]


def read_question_ids(path: str | Path) -> list[int]:
    """The question ids of a VQA question file, in file order, the file checked as
    :func:`read_questions` checks it (``lsat validate-result`` needs only the ids)."""
    _p, items = _checked_items(path)
    return list(map(_QID, items))


_DICT, _STR = {dict}, {str}
_ANSWER = operator.itemgetter("answer")


def _well_formed(item: object) -> bool:
    """Fast check of one annotation item; :func:`_check_annotation` names what is wrong."""
    try:
        answers = item["answers"]  # type: ignore[index]
        return (
            type(item) is dict
            and type(item["question_id"]) is int
            and type(item["image_id"]) is int
            and type(item["multiple_choice_answer"]) is str
            and type(answers) is list
            and set(map(type, answers)) == _DICT
            and set(map(type, map(_ANSWER, answers))) == _STR
            and (item.get("answer_type") is None or type(item["answer_type"]) is str)
        )
    except (KeyError, TypeError, IndexError):
        return False


def _check_annotation(item: object, i: int, p: Path) -> None:
    """Raise the one error describing what is wrong with annotation item ``i``."""
    qid = require(item, "question_id", int, p, f"annotation #{i}")
    where = f"annotation of question id {qid}"
    require(item, "image_id", int, p, where)
    require(item, "multiple_choice_answer", str, p, where)
    answers = require(item, "answers", list, p, where)
    if not answers:
        raise LsatError(f"{p}: {where}: 'answers' is empty; expected the annotators' answers")
    for j, ans in enumerate(answers):
        require(ans, "answer", str, p, f"{where}, answer #{j}")
    require(item, "answer_type", str, p, where)


def read_annotations(path: str | Path) -> dict[int, dict[str, Any]]:
    """Annotations of a VQA annotation file keyed by question id, each item checked.

    Well-formed items take a fast path (VQA-v2 val has 2.1 M answers to check); any other
    gets the one error naming the file, the question id and the key.
    """
    p = Path(path)
    items = top_list(read_json(p, "VQA annotation file"), "annotations", p)
    out: dict[int, dict[str, Any]] = {}
    for i, item in enumerate(items):
        if not _well_formed(item):
            _check_annotation(item, i, p)
        qid = item["question_id"]
        if qid in out:
            raise LsatError(f"{p}: annotation of question id {qid} appears more than once")
        out[qid] = item
    return out


def read_question_images(path: str | Path) -> dict[int, int]:
    """{question id: image id} of a VQA question file, checked, without building records
    (what evaluation needs of the 214 k val questions)."""
    p = Path(path)
    items = top_list(read_json(p, "VQA question file"), "questions", p)
    try:
        pairs = {item["question_id"]: item["image_id"] for item in items}
        fast = len(pairs) == len(items) and all(
            type(q) is int and type(i) is int for q, i in pairs.items()
        )
    except (KeyError, TypeError):
        fast = False
    if fast:
        return pairs
    return {
        qid: require(item, "image_id", int, p, where)
        for qid, item, where in unique_questions(items, "question_id", p, "question id")
    }


def check_same_questions(
    images: dict[int, int], annotations: dict[int, dict[str, Any]], qpath: Path, apath: Path
) -> None:
    """Both files describe the same question ids, each on the same image (as
    :func:`attach_annotations` requires, with its messages)."""
    for qid, ann in annotations.items():
        image = images.get(qid)
        if image is None:
            raise LsatError(
                f"{apath}: annotation of question id {qid} has no matching question in {qpath}"
            )
        if ann["image_id"] != image:
            raise LsatError(
                f"{apath}: annotation of question id {qid} has image_id {ann['image_id']} "
                f"but {qpath} gives image_id {image}"
            )
    if len(images) != len(annotations):
        qid = next(q for q in images if q not in annotations)
        raise LsatError(f"{qpath}: question id {qid} has no annotation in {apath}")


def attach_annotations(
    questions: list[Question], annotations: dict[int, dict[str, Any]], qpath: Path, apath: Path
) -> list[Question]:
    """Fill each question's answers; both files must describe the same question ids."""
    by_id = {q.qid: q for q in questions}
    for qid, ann in annotations.items():
        q = by_id.get(qid)
        if q is None:
            raise LsatError(
                f"{apath}: annotation of question id {qid} has no matching question in {qpath}"
            )
        if ann["image_id"] != q.image_id:
            raise LsatError(
                f"{apath}: annotation of question id {qid} has image_id {ann['image_id']} "
                f"but {qpath} gives image_id {q.image_id}"
            )
        q.answers = [a["answer"] for a in ann["answers"]]
        q.answer = ann["multiple_choice_answer"]
        q.answer_type = ann.get("answer_type")
    for q in questions:
        if q.answer is None:
            raise LsatError(f"{qpath}: question id {q.qid} has no annotation in {apath}")
    return questions


def load_set(raw_dir: str | Path, qset: str) -> list[Question]:
    """Questions of VQA question set ``qset`` (train, val, test, vg) with their answers."""
    qpath = VQA.question_file(raw_dir, qset)
    questions = read_questions(qpath)
    apath = VQA.annotation_file(raw_dir, qset)
    if apath is None:
        return questions
    return attach_annotations(questions, read_annotations(apath), qpath, apath)


def question_types(raw_dir: str | Path, qset: str) -> dict[int, str]:
    """{question id: its annotated ``question_type``, else its ``answer_type``}."""
    anns = read_annotations(VQA.annotations_of(raw_dir, qset))
    return {
        qid: str(a.get("question_type") or a.get("answer_type") or "unknown")
        for qid, a in anns.items()
    }
