"""Reader of CLEVR v1.0 question files and the accuracy category of each question.

A CLEVR question's category (docs/sources.md) is given by the last function of its program, so
the reader records it; evaluation reports accuracy per category.
"""

from __future__ import annotations

from pathlib import Path

from lsat.data.records import Question, question_text, require, top_list, unique_questions
from lsat.errors import LsatError
from lsat.io import read_json
from lsat.formats import CLEVR

CATEGORIES = ("Count", "Exist", "Compare Numbers", "Query Attribute", "Compare Attribute")
_FUNCTION_CATEGORY = {
    "count": "Count",
    "exist": "Exist",
    "greater_than": "Compare Numbers",
    "less_than": "Compare Numbers",
    **{f"query_{a}": "Query Attribute" for a in ("color", "material", "shape", "size")},
    **{
        f"equal_{a}": "Compare Attribute" for a in ("color", "integer", "material", "shape", "size")
    },
}


def category_of(function: str) -> str | None:
    """Accuracy category of a program whose last function is ``function`` (None if other)."""
    return _FUNCTION_CATEGORY.get(function)


def read_questions(path: str | Path, require_answers: bool = True) -> list[Question]:
    """Questions of a CLEVR question file; ``answer`` and the category filled when present.

    ``require_answers`` (train/val): every question must carry an ``answer``.
    """
    p = Path(path)
    items = top_list(read_json(p, "CLEVR question file"), "questions", p)
    out: list[Question] = []
    for qid, item, where in unique_questions(items, "question_index", p, "question_index"):
        q = Question(
            qid=qid,
            image_id=require(item, "image_index", int, p, where),
            question=question_text(item, p, where),
        )
        if require_answers or "answer" in item:
            q.answer = require(item, "answer", str, p, where)
            q.answers = [q.answer]
        if "program" in item:
            program = require(item, "program", list, p, where)
            if not program:
                raise LsatError(f"{p}: {where}: 'program' is empty")
            for j, step in enumerate(program):
                require(step, "function", str, p, f"{where}, program step {j}")
            q.category = category_of(program[-1]["function"])
        out.append(q)
    return out


def read_question_ids(path: str | Path) -> list[int]:
    """The question indices of a CLEVR question file (answers not required: test)."""
    return [q.qid for q in read_questions(path, require_answers=False)]


def load_set(raw_dir: str | Path, qset: str) -> list[Question]:
    """Questions of CLEVR split ``qset`` (train, val, test); test has no answers."""
    return read_questions(CLEVR.question_file(raw_dir, qset), require_answers=qset != "test")


def question_types(raw_dir: str | Path, qset: str) -> dict[int, str]:
    """{question index: its category} ("Other" for programs outside the five)."""
    return {q.qid: q.category or "Other" for q in load_set(raw_dir, qset)}
