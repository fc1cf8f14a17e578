"""Result files that cannot be wrong: validated in full before an atomic write.

The EvalAI server rejects a VQA result file whose question ids differ from test2015's with
"Results do not correspond to current VQA set"; finding that out after an upload is the
most common waste of a user's day. So a result file is checked against the JSON schema
(``lsat/schemas/result.schema.json``), for duplicate ids and for an id set equal to the
test questions' before anything is written; a failing check writes nothing and says how
many ids are missing/duplicated/unknown, with examples.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from lsat import schema_check
from lsat.errors import LsatError
from lsat.io import read_json, write_json_atomic, write_text_atomic

SCHEMA_PATH = Path(str(resources.files("lsat") / "schemas" / "result.schema.json"))


def check_result(entries: Any, expected_ids: Sequence[int], source: str) -> None:
    """Raise one LsatError unless ``entries`` is a valid result for exactly ``expected_ids``."""
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    try:
        import jsonschema  # optional: the GPU machines have none
    except ImportError:
        try:
            schema_check.check(entries, schema, schema, [])
        except schema_check.SchemaError as err:
            where = "/".join(str(p) for p in err.path) or "<top level>"
            raise LsatError(
                f"{source}: not a valid result file; first error at entry {where}: {err.message}"
            ) from None
        errors = []
    else:
        errors = sorted(
            jsonschema.Draft202012Validator(schema).iter_errors(entries),
            key=lambda e: list(e.absolute_path),
        )
    if errors:
        err = errors[0]
        where = "/".join(str(p) for p in err.absolute_path) or "<top level>"
        raise LsatError(
            f"{source}: not a valid result file ({len(errors)} schema error(s)); "
            f"first at entry {where}: {err.message}"
        )
    counts = Counter(e["question_id"] for e in entries)
    duplicates = sorted(q for q, c in counts.items() if c > 1)
    expected = set(expected_ids)
    missing = sorted(expected - set(counts))
    unknown = sorted(set(counts) - expected)
    if duplicates or missing or unknown:
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


def validate_result_file(result: Path, questions: Path, fmt: str = "vqa") -> int:
    """``lsat validate-result``: check a result file against a question file; return count."""
    entries = read_json(result, "result file")
    if fmt == "clevr":
        from lsat.data.clevr import read_questions as read_clevr

        ids = [q.qid for q in read_clevr(questions, require_answers=False)]
    else:
        from lsat.data.vqa import read_questions

        ids = [q.qid for q in read_questions(questions)]
    check_result(entries, ids, str(result))
    return len(ids)
