"""Answer normalisation pinned to the official vqaEval.py, soft scores and answer lists."""

import json

import pytest

from lsat.data.answers import (
    build_clevr_answer_list,
    build_vqa_answer_list,
    normalize_answer,
    prep_answer,
    read_answers,
    soft_score,
    soft_targets,
    write_answers,
)
from lsat.errors import LsatError


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1,000", "1000"),  # d,d: every punctuation mark is removed, not spaced
        ("2.5", "2.5"),  # a period inside a decimal stays
        ("10.5.", "10.5"),  # ... a final one goes
        ("yes.", "yes"),
        ("two", "2"),
        ("Two Dogs", "2 dogs"),
        ("none", "0"),
        ("zero", "0"),
        ("ten", "10"),
        ("a dog", "dog"),
        ("the", ""),
        ("an apple", "apple"),
        ("dont", "don't"),
        ("isnt", "isn't"),
        ("wasnt", "wasn't"),
        ("Im", "im"),  # the official table's capitalised keys never match after lower()
        ("hello-world", "hello world"),  # punctuation inside a word becomes a space
        ("black - white", "black white"),  # next to a space it is removed
        ("red,blue", "red blue"),
        ("red, blue", "red blue"),
        ("3,4 and 5,x", "34 and 5x"),  # one d,d anywhere removes every comma
        ("x@y", "x y"),
        ("it's", "it's"),  # apostrophes are not punctuation here
        ("  Yes  ", "yes"),
    ],
)
def test_official_normalisation(raw, expected):
    assert normalize_answer(raw) == expected


def test_period_strip_keeps_the_official_count_of_32():
    # vqaEval passes re.UNICODE (32) as the count of periodStrip.sub.
    assert normalize_answer("." * 40) == "." * 8


def test_prep_answer_also_drops_commas():
    assert prep_answer("1,000") == "1000"
    assert prep_answer("a, b") == "b"  # ", " removed, article "a" dropped


@pytest.mark.parametrize(
    ("count", "score"), [(0, 0.0), (1, 0.3), (2, 0.6), (3, 0.9), (4, 1.0), (10, 1.0)]
)
def test_soft_scores(count, score):
    assert soft_score(count) == score


def test_soft_targets_count_normalised_answers():
    answers = ["Two", "2", "2", "two", "3", "3", "4", "Yes", "2.", "a 2"]
    got = dict(soft_targets(answers, {"2": 0, "3": 1, "4": 2}))
    assert got == {0: 1.0, 1: 0.6, 2: 0.3}  # "yes" is not in the dictionary


def test_vqa_answer_list_threshold_and_first_appearance_order():
    mc = ["no"] * 9 + ["yes"] * 9 + ["two"] * 5 + ["2"] * 4 + ["cat"] * 8
    assert build_vqa_answer_list(mc, min_count=8) == ["no", "yes", "2"]


def test_clevr_answer_list_keeps_first_appearance():
    assert build_clevr_answer_list(["yes", "2", "yes", "cube"]) == ["yes", "2", "cube"]


def test_answers_file_round_trip_in_official_format(tmp_path):
    path = tmp_path / "answers.json"
    write_answers(path, ["yes", "no", "2"])
    data = json.loads(path.read_text())
    assert data == [{"yes": 0, "no": 1, "2": 2}, {"0": "yes", "1": "no", "2": "2"}]
    assert read_answers(path) == ["yes", "no", "2"]


def test_bad_answers_file_is_named(tmp_path):
    path = tmp_path / "answer_dict.json"
    path.write_text(json.dumps([{"yes": 0, "no": 0}, {}]))
    with pytest.raises(LsatError, match=r"answer_dict\.json.*'no' has index 0"):
        read_answers(path)
    path.write_text(json.dumps({"yes": 0}))
    with pytest.raises(LsatError, match=r"answer_dict\.json: expected"):
        read_answers(path)
