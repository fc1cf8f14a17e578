"""``lsat vocab``: the token vocabulary and answer dictionary of a dataset.

Token ids follow the official order of sources whatever split is trained (VQA: train, val,
test2015, then VG when present; CLEVR: train, val, test), so that they match official
checkpoints. The VQA answer list is MCAN's (normalised ``multiple_choice_answer`` seen
more than ``min_answer_count`` times in train+val, in first-appearance order) unless an
official ``answer_dict.json`` fixes it.
"""

from __future__ import annotations

from pathlib import Path

from lsat.config import DatasetConfig
from lsat.data.answers import (
    build_clevr_answer_list,
    build_vqa_answer_list,
    read_answers,
    write_answers,
)
from lsat.data.readers import reader
from lsat.data.records import Question
from lsat.data.tokens import build_vocab, longest_question, write_vocab
from lsat.errors import LsatError


def required_files(ds: DatasetConfig) -> list[Path]:
    """Raw files the vocabulary needs: every official source, VG only when trained on."""
    return ds.fmt.raw_files(ds.raw_dir, ds.fmt.needed_qsets(ds.train.splits))


def check_raw_files(files: list[Path], dataset: str) -> None:
    """One error listing every missing raw file."""
    missing = [f for f in files if not f.is_file()]
    if missing:
        listing = "\n  ".join(str(f) for f in missing)
        raise LsatError(
            f"dataset {dataset!r} is missing {len(missing)} raw file(s):\n  {listing}\n"
            "(place the official files there, or run `lsat demo-data` for the demo datasets)"
        )


def load_questions(ds: DatasetConfig, qset: str) -> list[Question]:
    """Questions (with answers where the set has them) of one question set of ``ds``."""
    return reader(ds.fmt).load_set(ds.raw_dir, qset)


def build(ds: DatasetConfig) -> dict[str, object]:
    """Write ``vocab.json`` and ``answers.json`` of ``ds``; return a short summary."""
    check_raw_files(required_files(ds), ds.name)
    sources: list[str] = []
    by_set: dict[str, list[Question]] = {}
    for qset in ds.fmt.question_sets:  # the official order of the token sources
        qfile = ds.fmt.question_file(ds.raw_dir, qset)
        if qset == "vg" and not qfile.is_file():
            continue  # optional unless trained on (checked above)
        by_set[qset] = load_questions(ds, qset)
        sources.append(str(qfile))
    texts = [q.question for qs in by_set.values() for q in qs]
    token_to_ix = build_vocab(texts)
    max_token = ds.vocab.max_token or ds.fmt.max_token or longest_question(texts)
    answers = _answer_list(ds, by_set["train"] + by_set["val"])
    write_vocab(ds.paths.vocab, token_to_ix, max_token, sources)
    write_answers(ds.paths.answers, answers)
    return {
        "tokens": len(token_to_ix),
        "max_token": max_token,
        "answers": len(answers),
        "sources": sources,
    }


def _answer_list(ds: DatasetConfig, train_val: list[Question]) -> list[str]:
    official = ds.vocab.answer_dict
    if official:
        return read_answers(official)
    seen = [q.answer for q in train_val if q.answer is not None]
    if ds.fmt.one_answer:
        answers = build_clevr_answer_list(seen)
    else:
        answers = build_vqa_answer_list(seen, ds.vocab.min_answer_count)
    if not answers:
        raise LsatError(
            f"dataset {ds.name!r}: no answer is frequent enough for the answer list "
            f"(vocab.min_answer_count = {ds.vocab.min_answer_count})"
        )
    return answers
