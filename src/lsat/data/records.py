"""One question record shared by the VQA-v2/VG and CLEVR readers, and key checking.

The readers turn each official JSON item into a :class:`Question` after checking every key
it uses, so a malformed file fails once, naming the file, the item and the key, instead of
as a ``KeyError`` deep in training.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lsat.errors import LsatError


@dataclass
class Question:
    """A question with its image and (when the set has them) its answers.

    ``qid`` is the VQA ``question_id`` or the CLEVR ``question_index``; ``image_id`` the
    COCO ``image_id`` or the CLEVR ``image_index``. ``answers`` holds the annotators'
    answers (VQA: 10, CLEVR: the one answer), empty for test sets; ``answer`` is the
    ``multiple_choice_answer`` (VQA) or the answer (CLEVR), None for test sets.
    """

    qid: int
    image_id: int
    question: str
    answers: list[str] = field(default_factory=list)
    answer: str | None = None
    answer_type: str | None = None
    category: str | None = None


_TYPE_NAMES = {int: "an integer", str: "a string", list: "a list", dict: "an object"}


def require(item: Any, key: str, kind: type, path: Path, where: str) -> Any:
    """``item[key]`` when it exists and has type ``kind``; else one error naming everything."""
    if not isinstance(item, dict):
        raise LsatError(f"{path}: {where} must be a JSON object, got {type(item).__name__}")
    if key not in item:
        raise LsatError(f"{path}: {where} has no {key!r} key")
    value = item[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise LsatError(
            f"{path}: {where}: {key!r} must be {_TYPE_NAMES.get(kind, kind.__name__)}, "
            f"got {value!r}"
        )
    return value


def top_list(data: Any, key: str, path: Path) -> list[Any]:
    """The list under the file's top-level ``key`` (``questions``/``annotations``)."""
    if not isinstance(data, dict) or not isinstance(data.get(key), list):
        raise LsatError(f"{path}: expected a JSON object with a {key!r} list at the top level")
    return data[key]


def unique_questions(
    items: list[Any], id_key: str, path: Path, label: str
) -> Iterator[tuple[int, Any, str]]:
    """``(id, item, where)`` per question item, refusing a missing or repeated ``id_key``.

    ``where`` ("question id 42") is the prefix every later error about the item uses.
    """
    seen: set[int] = set()
    for i, item in enumerate(items):
        qid = require(item, id_key, int, path, f"question #{i}")
        where = f"{label} {qid}"
        if qid in seen:
            raise LsatError(f"{path}: {where} appears more than once")
        seen.add(qid)
        yield qid, item, where


def question_text(item: Any, path: Path, where: str) -> str:
    """The item's ``question``: a string with at least one non-blank character (an empty
    question would reach the model as padding alone)."""
    text = require(item, "question", str, path, where)
    if not text.strip():
        raise LsatError(f"{path}: {where}: 'question' is empty; expected the question's text")
    return text
