"""Result files that cannot be wrong: validated in full before an atomic write.

The EvalAI server rejects a VQA result file whose question ids differ from test2015's with
"Results do not correspond to current VQA set"; finding that out after an upload is the
most common waste of a user's day. So a result file is checked for its shape (the one that
``lsat/schemas/result.schema.json`` documents), for duplicate ids and for an id set equal
to the test questions' before anything is written; a failing check writes nothing and says
how many ids are missing/duplicated/unknown, with examples.

The shape is checked directly rather than with jsonschema: a generic validator spent 13 of
the 16 s that validating test2015's 447,793 entries took; one pass of ``type()`` tests
takes a fraction of a second (benchmarks/RESULTS.md, ``bench_scale.py``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from lsat.data.readers import test_question_ids
from lsat.errors import LsatError
from lsat.formats import Format, format_of
from lsat.io import parsed_once, read_json, write_json_atomic, write_text_atomic

SCHEMA_PATH = Path(str(resources.files("lsat") / "schemas" / "result.schema.json"))
_KEYS = frozenset(("question_id", "answer"))


def _entry_problem(entry: Any) -> str | None:
    """Why ``entry`` is not ``{"question_id": int, "answer": str}``; None when it is."""
    if type(entry) is not dict:
        return f"is {type(entry).__name__}, not an object"
    if entry.keys() != _KEYS:
        extra = sorted(set(entry) - _KEYS)
        missing = sorted(_KEYS - set(entry))
        return f"has keys missing {missing} / not allowed {extra}"
    qid = entry["question_id"]
    # JSON Schema's "integer": 7 or 7.0, never true/false (bool is an int subclass).
    if not (type(qid) is int or (type(qid) is float and qid.is_integer())):
        return f"'question_id' {qid!r} is not an integer"
    if type(entry["answer"]) is not str:
        return f"'answer' {entry['answer']!r} is not a string"
    return None


def check_shape(entries: Any, source: str) -> list[int]:
    """The question ids of ``entries``, a list of ``{question_id: int, answer: str}``;
    one LsatError naming the first malformed entry otherwise."""
    if type(entries) is not list:
        raise LsatError(
            f"{source}: not a valid result file: expected a JSON array of "
            f'{{"question_id": int, "answer": str}} objects, got {type(entries).__name__}'
        )
    ids: list[int] = []
    append, is_int, is_str = ids.append, int, str
    for entry in entries:
        # The fast path: exact types, exactly the two keys (no per-entry function call).
        if type(entry) is dict and len(entry) == 2:
            qid = entry.get("question_id")
            if type(qid) is is_int and type(entry.get("answer")) is is_str:
                append(qid)
                continue
        if _entry_problem(entry) is None:  # valid but unusual, e.g. an id written as 7.0
            append(int(entry["question_id"]))
            continue
        bad = [i for i, e in enumerate(entries) if _entry_problem(e)]
        raise LsatError(
            f"{source}: not a valid result file ({len(bad)} malformed entr"
            f"{'y' if len(bad) == 1 else 'ies'}); first: entry #{bad[0]} "
            f"{_entry_problem(entries[bad[0]])} (expected "
            f'{{"question_id": int, "answer": str}}, see {SCHEMA_PATH.name})'
        )
    return ids


def check_result(entries: Any, expected_ids: Sequence[int], source: str) -> None:
    """Raise one LsatError unless ``entries`` is a valid result for exactly ``expected_ids``."""
    ids = check_shape(entries, source)
    got, expected = set(ids), set(expected_ids)
    if len(got) == len(ids) and got == expected:
        return
    duplicates = sorted(q for q, c in Counter(ids).items() if c > 1)
    missing = sorted(expected - got)
    unknown = sorted(got - expected)
    raise LsatError(
        f"{source}: result file does not correspond to the {len(expected)} test "
        f"questions: {len(missing)} missing id(s) {missing[:5]}, {len(duplicates)} "
        f"duplicate id(s) {duplicates[:5]}, {len(unknown)} unknown id(s) {unknown[:5]}"
    )


def write_result(path: Path, entries: list[dict[str, Any]], expected_ids: Sequence[int]) -> None:
    """Validate, then write the JSON result file atomically (nothing written on failure)."""
    check_result(entries, expected_ids, str(path))
    write_json_atomic(path, entries, indent=None)


def write_clevr_text(path: Path, answers_in_order: list[str]) -> None:
    """CLEVR's official test format: one answer per line, in question_index order."""
    write_text_atomic(path, "\n".join(answers_in_order) + "\n")


TEST_STANDARD, TEST_DEV = "test2015", "test-dev2015"


def test_coverage(questions: Path) -> str:
    """Which VQA-v2 test questions a question file holds: ``test2015`` (every question, so
    both EvalAI phases: test-dev and test-standard) or ``test-dev2015`` (the test-dev
    subset only), from the official ``data_subtype`` (else the file name); "" if unknown."""
    data = read_json(questions, "VQA question file")
    subtype = data.get("data_subtype") if isinstance(data, dict) else None
    if subtype in (TEST_STANDARD, TEST_DEV):
        return subtype
    name = questions.name
    return TEST_DEV if "test-dev" in name else TEST_STANDARD if "test2015" in name else ""


def coverage_note(coverage: str) -> str:
    if coverage == TEST_STANDARD:
        return "covers test2015: a full submission (test-dev and test-standard phases)"
    if coverage == TEST_DEV:
        return "covers only test-dev2015: for the test-dev phase only, not a full submission"
    return "test coverage unknown (no official data_subtype)"


def refuse_test_dev(questions: Path, coverage: str) -> None:
    """A full submission needs every test2015 question; a test-dev file is refused."""
    if coverage == TEST_DEV:
        raise LsatError(
            f"{questions} holds only the test-dev2015 questions (data_subtype "
            f"{TEST_DEV!r}): a full submission needs v2_OpenEnded_mscoco_test2015_questions"
            ".json (447,793 questions, both phases); to check a test-dev-only upload, "
            "run lsat validate-result --submission test-dev"
        )


def test_ids(fmt: Format, questions: Path) -> list[int]:
    """The question ids a test result file of ``fmt`` must answer, exactly."""
    return test_question_ids(fmt, questions)


def check_full_test(fmt: Format, questions: Path) -> None:
    """Refuse a test question file that cannot make a full submission (VQA's test-dev)."""
    if fmt.evalai:
        refuse_test_dev(questions, test_coverage(questions))


def validate_result_file(
    result: Path, questions: Path, fmt: str | Format = "vqa", submission: str = "full"
) -> tuple[int, str]:
    """``lsat validate-result``: check a result file against a question file; return the
    count and (VQA) which test phases the file covers."""
    f = format_of(fmt)
    entries = read_json(result, "result file")
    with parsed_once():
        coverage = test_coverage(questions) if f.evalai else ""
        if f.evalai and submission == "full":
            refuse_test_dev(questions, coverage)
        ids = test_ids(f, questions)
    check_result(entries, ids, str(result))
    return len(ids), coverage_note(coverage) if f.evalai else ""
