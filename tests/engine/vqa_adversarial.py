"""Seeded adversarial VQA files: every normalisation rule, agreeing and disagreeing humans.

The strings exercise punctuation (with and without a digit comma or surrounding spaces),
periods around digits, case, number words, articles, contractions, tabs/newlines and outer
spaces, and the file mixes agreeing and disagreeing annotators, answer lists of other
lengths than 10, and entries without ``answer_id`` (equal dicts). The same seed gives the
same files; the official scripts were run on them to obtain the numbers pinned in
tests/engine/test_vqa_versions.py.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

POOL = [
    "yes", "Yes", "Yes.", "yes!", " yes", "yes\t", "yes\nplease", "YES", "no", "No.", "nope",
    "2", "two", "Two", "2.", "2.5", "2,000", "2000", "2 000", "none", "zero", "0", "Ten", "10",
    "a dog", "the dog", "dog", "Dog.", "dogs", "an apple", "apple", "dont", "don't", "do not",
    "its", "it's", "red/blue", "red blue", "red-blue", "t-shirt", "tshirt", "t shirt",
    "hot dog", "hot-dog", "hotdog", "(left)", "left", "left side", "1.5.", "1 . 5", "a.m.",
    "am", "e.g. cat", "cat", "cats", "man's", "mans", "youre", "you're", "I'm", "im", "Im",
    "somebody'd", "somebodyd", "what?", "what", "5 - 3", "5-3", "\"quoted\"", "quoted",
    "1,5", "3;4", "3 ;4", "white, black", "white black", "A", "the", "",
]  # fmt: skip
ANSWER_TYPES = {"yes/no": "is the", "number": "how many", "other": "what color"}


def _humans(rng: random.Random) -> list[str]:
    n = rng.choice([10] * 8 + [3, 1])
    kind = rng.random()
    if kind < 0.3:  # all agree (maybe on an un-normalised string)
        return [rng.choice(POOL)] * n
    if kind < 0.5:  # agree after cleaning or case only
        base = rng.choice(["yes", "two", "dog", "red"])
        variants = [base, base.upper(), f" {base}", f"{base}\t", f"{base}.", base.title()]
        return [rng.choice(variants) for _ in range(n)]
    majority = rng.choice(POOL)
    return [majority if rng.random() < 0.6 else rng.choice(POOL) for _ in range(n)]


def _prediction(rng: random.Random, humans: list[str]) -> str:
    r = rng.random()
    if r < 0.5:
        return rng.choice(humans)
    if r < 0.7:
        return rng.choice(humans).upper() + rng.choice(["", ".", "!", " "])
    return rng.choice(POOL)


def generate(n: int = 400, seed: int = 0) -> tuple[dict, dict, list]:
    """(question file, annotation file, predictions) of ``n`` questions."""
    rng = random.Random(seed)
    questions, annotations, predictions = [], [], []
    for i in range(n):
        qid = 1000 + 7 * i
        ans_type = rng.choice(list(ANSWER_TYPES))
        humans = _humans(rng)
        with_ids = rng.random() < 0.85
        answers = []
        for j, a in enumerate(humans):
            entry = {"answer": a, "answer_confidence": "yes"}
            if with_ids:
                entry["answer_id"] = j + 1
            answers.append(entry)
        questions.append({"question_id": qid, "image_id": i // 3, "question": "q?"})
        annotations.append(
            {
                "question_id": qid,
                "image_id": i // 3,
                "question_type": ANSWER_TYPES[ans_type] + rng.choice(["", " of"]),
                "answer_type": ans_type,
                "multiple_choice_answer": humans[0],
                "answers": answers,
            }
        )
        predictions.append({"question_id": qid, "answer": _prediction(rng, humans)})
    head = {"info": {}, "license": {}, "data_subtype": "val2014", "task_type": "Open-Ended"}
    qfile = {**head, "data_type": "mscoco", "questions": questions}
    afile = {**head, "data_type": "mscoco", "annotations": annotations}
    return qfile, afile, predictions


def write(directory: Path, n: int = 400, seed: int = 0) -> dict[str, Path]:
    """Write the three files under ``directory``; return their paths (keys q, a, p)."""
    qfile, afile, preds = generate(n, seed)
    paths = {k: directory / f"adversarial_{seed}_{k}.json" for k in ("q", "a", "p")}
    for key, data in zip(("q", "a", "p"), (qfile, afile, preds), strict=True):
        paths[key].write_text(json.dumps(data), encoding="utf-8")
    return paths
