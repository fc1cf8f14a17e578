"""VQA answer normalisation, soft scores and the answer dictionary.

The normalisation reproduces the official VQA evaluation (``vqaEval.py``:
``processPunctuation`` then ``processDigitArticle``) quirk for quirk, because the answer
list, the soft targets and the accuracy of official checkpoints all depend on it. MCAN/TRAR
(``prep_ans``) additionally drop every remaining comma; :func:`prep_answer` does that.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from lsat.errors import LsatError
from lsat.io import read_json, write_json_atomic

# The official table, including its entries that can never match after lower-casing.
CONTRACTIONS = {
    "aint": "ain't", "arent": "aren't", "cant": "can't", "couldve": "could've",
    "couldnt": "couldn't", "couldn'tve": "couldn't've", "couldnt've": "couldn't've",
    "didnt": "didn't", "doesnt": "doesn't", "dont": "don't", "hadnt": "hadn't",
    "hadnt've": "hadn't've", "hadn'tve": "hadn't've", "hasnt": "hasn't", "havent": "haven't",
    "hed": "he'd", "hed've": "he'd've", "he'dve": "he'd've", "hes": "he's", "howd": "how'd",
    "howll": "how'll", "hows": "how's", "Id've": "I'd've", "I'dve": "I'd've", "Im": "I'm",
    "Ive": "I've", "isnt": "isn't", "itd": "it'd", "itd've": "it'd've", "it'dve": "it'd've",
    "itll": "it'll", "let's": "let's", "maam": "ma'am", "mightnt": "mightn't",
    "mightnt've": "mightn't've", "mightn'tve": "mightn't've", "mightve": "might've",
    "mustnt": "mustn't", "mustve": "must've", "neednt": "needn't", "notve": "not've",
    "oclock": "o'clock", "oughtnt": "oughtn't", "ow's'at": "'ow's'at", "'ows'at": "'ow's'at",
    "'ow'sat": "'ow's'at", "shant": "shan't", "shed've": "she'd've", "she'dve": "she'd've",
    "she's": "she's", "shouldve": "should've", "shouldnt": "shouldn't",
    "shouldnt've": "shouldn't've", "shouldn'tve": "shouldn't've", "somebody'd": "somebodyd",
    "somebodyd've": "somebody'd've", "somebody'dve": "somebody'd've",
    "somebodyll": "somebody'll", "somebodys": "somebody's", "someoned": "someone'd",
    "someoned've": "someone'd've", "someone'dve": "someone'd've", "someonell": "someone'll",
    "someones": "someone's", "somethingd": "something'd", "somethingd've": "something'd've",
    "something'dve": "something'd've", "somethingll": "something'll", "thats": "that's",
    "thered": "there'd", "thered've": "there'd've", "there'dve": "there'd've",
    "therere": "there're", "theres": "there's", "theyd": "they'd", "theyd've": "they'd've",
    "they'dve": "they'd've", "theyll": "they'll", "theyre": "they're", "theyve": "they've",
    "twas": "'twas", "wasnt": "wasn't", "wed've": "we'd've", "we'dve": "we'd've",
    "weve": "we've", "werent": "weren't", "whatll": "what'll", "whatre": "what're",
    "whats": "what's", "whatve": "what've", "whens": "when's", "whered": "where'd",
    "wheres": "where's", "whereve": "where've", "whod": "who'd", "whod've": "who'd've",
    "who'dve": "who'd've", "wholl": "who'll", "whos": "who's", "whove": "who've",
    "whyll": "why'll", "whyre": "why're", "whys": "why's", "wont": "won't",
    "wouldve": "would've", "wouldnt": "wouldn't", "wouldnt've": "wouldn't've",
    "wouldn'tve": "wouldn't've", "yall": "y'all", "yall'll": "y'all'll", "y'allll": "y'all'll",
    "yall'd've": "y'all'd've", "y'alld've": "y'all'd've", "y'all'dve": "y'all'd've",
    "youd": "you'd", "youd've": "you'd've", "you'dve": "you'd've", "youll": "you'll",
    "youre": "you're", "youve": "you've",
}  # fmt: skip
MANUAL_MAP = {
    "none": "0", "zero": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5",
    "six": "6", "seven": "7", "eight": "8", "nine": "9", "ten": "10",
}  # fmt: skip
ARTICLES = ("a", "an", "the")
PUNCT = (";", "/", "[", "]", '"', "{", "}", "(", ")", "=", "+", "\\", "_", "-", ">", "<", "@",
         "`", ",", "?", "!")  # fmt: skip
# The official pattern: "(?!<=\d)" is a (mistyped) look-ahead, kept as is.
PERIOD_STRIP = re.compile(r"(?!<=\d)(\.)(?!\d)")
COMMA_STRIP = re.compile(r"(\d)(\,)(\d)")
# vqaEval.py calls ``periodStrip.sub("", text, re.UNICODE)``: re.UNICODE (32) lands in the
# ``count`` argument, so at most 32 periods are removed. Reproduced on purpose.
_PERIOD_COUNT = int(re.UNICODE)

# Soft target of an answer given by c annotators (docs/sources.md), c >= 4 → 1.0.
SOFT_SCORES = (0.0, 0.3, 0.6, 0.9)


def process_punctuation(text: str) -> str:
    """Official ``processPunctuation``: drop or space out punctuation, strip periods."""
    out = text
    has_digit_comma = COMMA_STRIP.search(text) is not None
    for p in PUNCT:
        # The official test looks at the *input* text, not the partly processed one.
        if (p + " " in text or " " + p in text) or has_digit_comma:
            out = out.replace(p, "")
        else:
            out = out.replace(p, " ")
    return PERIOD_STRIP.sub("", out, count=_PERIOD_COUNT)


def process_digit_article(text: str) -> str:
    """Official ``processDigitArticle``: lower-case, number words to digits, no articles."""
    words = [MANUAL_MAP.get(w, w) for w in text.lower().split()]
    words = [w for w in words if w not in ARTICLES]
    return " ".join(CONTRACTIONS.get(w, w) for w in words)


def normalize_answer(answer: str) -> str:
    """The official evaluation's normalisation of one answer string."""
    return process_digit_article(process_punctuation(answer))


@functools.lru_cache(maxsize=1 << 20)
def prep_answer(answer: str) -> str:
    """MCAN/TRAR ``prep_ans``: the official normalisation, then every comma removed.

    Used for the answer dictionary and the soft targets, so that ours match official
    checkpoints' answer lists. Cached: VQA-v2 has 4.4M annotator answers but few distinct.
    """
    return normalize_answer(answer).replace(",", "")


def soft_score(count: int) -> float:
    """Soft target of an answer given by ``count`` of the annotators: 0, .3, .6, .9, 1."""
    if count < 0:
        raise ValueError(f"answer count must be >= 0, got {count}")
    return SOFT_SCORES[count] if count < len(SOFT_SCORES) else 1.0


def answer_counts(answers: Iterable[str]) -> dict[str, int]:
    """Occurrences of each normalised (:func:`prep_answer`) answer, first-seen order."""
    counts: dict[str, int] = {}
    for a in answers:
        key = prep_answer(a)
        counts[key] = counts.get(key, 0) + 1
    return counts


def soft_targets(answers: Iterable[str], ans_to_ix: dict[str, int]) -> list[tuple[int, float]]:
    """``(answer index, soft score)`` of each normalised annotator answer in the dictionary."""
    return [
        (ans_to_ix[a], soft_score(c)) for a, c in answer_counts(answers).items() if a in ans_to_ix
    ]


def build_vqa_answer_list(multiple_choice_answers: Iterable[str], min_count: int = 8) -> list[str]:
    """Answers (normalised) seen more than ``min_count`` times, in first-appearance order.

    This is MCAN's ``ans_stat``: the caller passes train then val annotations, and the
    dictionary order is the order in which answers first appear there. Deterministic, and
    the same as the official ``answer_dict.json`` when built from the official files.
    """
    counts = answer_counts(multiple_choice_answers)
    return [a for a, c in counts.items() if c > min_count]


def build_clevr_answer_list(answers: Iterable[str]) -> list[str]:
    """Every CLEVR answer in first-appearance order (openvqa's CLEVR ``ans_stat``).

    The caller passes train then val answers; CLEVR answers are used as given (no
    normalisation), as in openvqa.
    """
    return list(dict.fromkeys(answers))


def answer_dict_json(answers: Sequence[str]) -> list[dict[str, Any]]:
    """The official ``answer_dict.json`` structure ``[{answer: ix}, {"ix": answer}]``."""
    return [{a: i for i, a in enumerate(answers)}, {str(i): a for i, a in enumerate(answers)}]


def write_answers(path: str | Path, answers: Sequence[str]) -> None:
    """Write ``answers.json`` atomically in the official format."""
    write_json_atomic(path, answer_dict_json(answers))


def read_answers(path: str | Path) -> list[str]:
    """Read an ``answers.json`` / official ``answer_dict.json``: the answers by index."""
    data = read_json(path, "answer dictionary")
    if not (isinstance(data, list) and len(data) >= 1 and isinstance(data[0], dict)):
        raise LsatError(
            f"answer dictionary {path}: expected [{{answer: ix}}, {{ix: answer}}] as in the "
            "official answer_dict.json"
        )
    ans_to_ix = data[0]
    answers: list[str | None] = [None] * len(ans_to_ix)
    for ans, ix in ans_to_ix.items():
        if not isinstance(ix, int) or not 0 <= ix < len(ans_to_ix) or answers[ix] is not None:
            raise LsatError(
                f"answer dictionary {path}: answer {ans!r} has index {ix!r}; expected each "
                f"index 0..{len(ans_to_ix) - 1} exactly once"
            )
        answers[ix] = ans
    return [a for a in answers if a is not None]
