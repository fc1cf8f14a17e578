"""Readers of the official VQA-v2 (and Visual Genome augmentation) question/annotation files.

VG files (``VG_questions.json``/``VG_annotations.json``) have the VQA format, so one reader
serves both. Every item is checked; the error names the file and the question id.
"""

from __future__ import annotations

from pathlib import Path

from lsat.data.records import Question, question_text, require, top_list, unique_questions
from lsat.errors import LsatError
from lsat.io import read_json
from lsat.paths import annotation_file, question_file


def read_questions(path: str | Path) -> list[Question]:
    """Questions of a VQA question file, in file order (answers left empty)."""
    p = Path(path)
    items = top_list(read_json(p, "VQA question file"), "questions", p)
    out: list[Question] = []
    for qid, item, where in unique_questions(items, "question_id", p, "question id"):
        out.append(
            Question(
                qid=qid,
                image_id=require(item, "image_id", int, p, where),
                question=question_text(item, p, where),
            )
        )
    return out


def read_annotations(path: str | Path) -> dict[int, dict]:
    """Annotations of a VQA annotation file keyed by question id, each item checked."""
    p = Path(path)
    items = top_list(read_json(p, "VQA annotation file"), "annotations", p)
    out: dict[int, dict] = {}
    for i, item in enumerate(items):
        qid = require(item, "question_id", int, p, f"annotation #{i}")
        where = f"annotation of question id {qid}"
        if qid in out:
            raise LsatError(f"{p}: {where} appears more than once")
        require(item, "image_id", int, p, where)
        require(item, "multiple_choice_answer", str, p, where)
        answers = require(item, "answers", list, p, where)
        if not answers:
            raise LsatError(f"{p}: {where}: 'answers' is empty; expected the annotators' answers")
        for j, ans in enumerate(answers):
            require(ans, "answer", str, p, f"{where}, answer #{j}")
        if item.get("answer_type") is not None:
            require(item, "answer_type", str, p, where)
        out[qid] = item
    return out


def attach_annotations(
    questions: list[Question], annotations: dict[int, dict], qpath: Path, apath: Path
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
    qpath = question_file(raw_dir, "vqa", qset)
    questions = read_questions(qpath)
    apath = annotation_file(raw_dir, "vqa", qset)
    if apath is None:
        return questions
    return attach_annotations(questions, read_annotations(apath), qpath, apath)
