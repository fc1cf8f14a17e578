"""VQA accuracy as either official ``vqaEval.py`` computes it (docs/sources.md).

The two official versions differ only in which strings they normalise, and that moves the
score by points, so both are implemented and every metrics file names the one used:

``2021``
    GT-Vision-Lab/VQA at "Fixed processing answers bug": tabs/newlines → spaces and strip on
    the prediction and every human answer; then, **only when** the human answers are not all
    equal, punctuation + digit/article normalisation of both sides.
``legacy``
    The copy bundled in openvqa, mcan-vqa and TRAR-VQA, which computed the papers' val
    numbers: the prediction is cleaned and fully normalised **always**; the human answers
    are neither cleaned nor stripped, and get only the punctuation rule, only when they are
    not all equal.

Accuracy of one question: for each human answer, min(1, matches among the *other* answers
/ 3), averaged in annotation order. "Other" means a different annotation entry: the
official code compares whole answer dicts, so entries that are identical in every field
(no distinct ``answer_id``) exclude each other. Percentages of unrounded accuracies,
rounded to 2 decimals, overall, per ``answer_type`` and per ``question_type``.

Faster than the official loop by construction, with the same arithmetic: each distinct
string is normalised once (a dict cache), and the per-question sum is taken in the same
order over the same values.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any

from lsat.data.answers import process_digit_article, process_punctuation
from lsat.errors import LsatError

EVAL_VERSIONS = ("2021", "legacy")
DEFAULT_EVAL_VERSION = "2021"
DESCRIPTIONS = {
    "2021": "vqaEval 2021 (GT-Vision-Lab/VQA): both sides normalised only when the human "
    "answers disagree",
    "legacy": "vqaEval legacy (openvqa/TRAR-VQA copy): prediction always normalised, human "
    "answers punctuation only when they disagree",
}
# min(1, k / 3) for k matching other answers, as the official float(k) / 3.
_CREDIT = (0.0, 1 / 3, 2 / 3) + (1,) * 1024


def check_version(version: Any) -> str:
    """The evaluation version as a string ('2021' or 'legacy'); YAML may give 2021 as int."""
    text = str(version)
    if text not in EVAL_VERSIONS:
        raise LsatError(
            f"unknown VQA evaluation version {version!r}: expected one of "
            f"{', '.join(EVAL_VERSIONS)} (docs/sources.md)"
        )
    return text


def _clean(text: str) -> str:
    return text.replace("\n", " ").replace("\t", " ").strip()


def _full(text: str) -> str:
    return process_digit_article(process_punctuation(text))


class _Memo(dict[str, str]):
    """``memo[text]`` is ``fn(text)``, computed on first use (a C-speed lookup after)."""

    def __init__(self, fn: Callable[[str], str]) -> None:
        super().__init__()
        self.fn = fn

    def __missing__(self, text: str) -> str:
        out = self[text] = self.fn(text)
        return out


class _Normaliser:
    """The string transformations of one version, each distinct input computed once."""

    def __init__(self, version: str) -> None:
        self.version = check_version(version)
        self.clean = _Memo(_clean)
        self.clean_full = _Memo(lambda t: _full(_clean(t)))
        self.punct = _Memo(process_punctuation)

    def sides(self, prediction: str, humans: list[str]) -> tuple[str, list[str]]:
        """The prediction and human answers as the version compares them."""
        agree = len(set(humans)) == 1
        if self.version == "legacy":
            pred = self.clean_full[prediction]
            if agree:
                return pred, humans
            punct = self.punct
            return pred, [punct[a] for a in humans]
        clean = self.clean
        if agree or len({clean[a] for a in humans}) == 1:
            return clean[prediction], [clean[a] for a in humans]
        full = self.clean_full
        return full[prediction], [full[a] for a in humans]


def _distinct_entries(answers: list[dict[str, Any]]) -> bool:
    """Whether no two annotation entries can be equal dicts (distinct ``answer_id``s)."""
    ids = {a.get("answer_id") for a in answers}
    return len(ids) == len(answers) and None not in ids


def _score(norm: _Normaliser, prediction: str, answers: list[dict[str, Any]]) -> float:
    """Accuracy (0..1) of one prediction against one question's annotation entries."""
    pred, gts = norm.sides(prediction, [a["answer"] for a in answers])
    matches = gts.count(pred)
    if matches == 0:
        return 0.0  # every credit is 0.0
    distinct = _distinct_entries(answers)
    if matches > 3 and distinct:
        return 1.0  # every credit is the integer 1: sum n, divided by n
    if distinct:
        credits = [_CREDIT[matches - 1] if a == pred else _CREDIT[matches] for a in gts]
        return sum(credits) / len(gts)
    # The official loop compares the dicts after rewriting their 'answer' in place: an
    # entry's equal copies are not "others", and they match exactly when it does.
    final = [{**a, "answer": g} for a, g in zip(answers, gts, strict=True)]
    credits = []
    for entry, g in zip(final, gts, strict=True):
        own = final.count(entry) if g == pred else 0
        credits.append(_CREDIT[matches - own])
    return sum(credits) / len(gts)


def question_accuracy(prediction: str, human_answers: list[str], version: str = "2021") -> float:
    """Official accuracy (0..1) of one prediction against distinct annotators' answers."""
    entries = [{"answer": a, "answer_id": i} for i, a in enumerate(human_answers)]
    return _score(_Normaliser(version), prediction, entries)


def vqa_accuracy(
    annotations: dict[int, dict[str, Any]],
    predictions: dict[int, str],
    source: str = "",
    version: str = DEFAULT_EVAL_VERSION,
) -> dict[str, Any]:
    """Overall, per-answer-type and per-question-type accuracy (%) of ``predictions``.

    Questions are taken in annotation order, as the official loop takes them, so the float
    sums (and the 2-decimal roundings) are the official ones.
    """
    check_ids(set(annotations), predictions, source)
    norm = _Normaliser(version)
    per_type: dict[str, list[float]] = defaultdict(list)
    per_question_type: dict[str, list[float]] = defaultdict(list)
    accs = []
    for qid, ann in annotations.items():
        acc = _score(norm, predictions[qid], ann["answers"])
        accs.append(acc)
        per_type[ann.get("answer_type") or "unknown"].append(acc)
        per_question_type[ann.get("question_type") or "unknown"].append(acc)
    return {
        "evaluation": DESCRIPTIONS[norm.version],
        "eval_version": norm.version,
        "num_questions": len(accs),
        "overall": pct(accs),
        "perAnswerType": {t: pct(v) for t, v in sorted(per_type.items())},
        "perQuestionType": {t: pct(v) for t, v in sorted(per_question_type.items())},
    }


def pct(values: list[float]) -> float:
    """Official ``round(100 * sum / n, 2)`` of accuracies in 0..1 (0 when empty)."""
    return round(100 * float(sum(values)) / len(values), 2) if values else 0.0


def check_ids(expected: set[int], predictions: dict[int, str], source: str) -> None:
    """The official ``loadRes`` check: predictions cover exactly the evaluated questions."""
    missing = sorted(expected - set(predictions))
    extra = sorted(set(predictions) - expected)
    if missing or extra:
        raise LsatError(
            f"predictions {source} do not correspond to the evaluated questions: "
            f"{len(missing)} question id(s) missing (e.g. {missing[:5]}), "
            f"{len(extra)} unknown (e.g. {extra[:5]})"
        )
