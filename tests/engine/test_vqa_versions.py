"""Both official VQA evaluation versions, pinned against the official scripts.

Every expected number below was obtained by running the official files as an oracle, in a
scratch folder outside the project (never copied into it): ``vqaEval.py`` of
GT-Vision-Lab/VQA at commit a013f00 ("Fixed processing answers bug") for ``2021``, and
``openvqa/datasets/vqa/eval/vqaEval.py`` of rentainhe/TRAR-VQA for ``legacy``, each with
the VQA API's ``VQA``/``loadRes`` and ``VQAEval(vqa, res, n=2).evaluate()``, on one-question
files for the cases and on the files of :mod:`vqa_adversarial` for the adversarial sets.
"""

from __future__ import annotations

import json

import pytest
import vqa_adversarial

from lsat.cli import main
from lsat.engine.evaluation import evaluate_files
from lsat.engine.vqa_eval import question_accuracy, vqa_accuracy

# (case, 10 or fewer human answers, prediction, entries carry answer_id, 2021 %, legacy %)
CASES = [
    # docs/sources.md: ten identical "yes" → "Yes." is never normalised under 2021
    ("agree, pred punctuation+case", ["yes"] * 10, "Yes.", True, 0.0, 100.0),
    # docs/sources.md: both sides become "2" under 2021; legacy keeps the human "two"s
    ("number words, pred digit", ["two"] * 8 + ["2"] * 2, "2", True, 100.0, 60.0),
    ("number words, pred word", ["two"] * 8 + ["2"] * 2, "two", True, 100.0, 60.0),
    # strip rule: legacy does not clean human answers, 2021 does
    ("agree on a tab", ["yes\t"] * 10, "yes", True, 100.0, 0.0),
    ("differ by a tab only", ["yes\t"] * 5 + ["yes"] * 5, "yes", True, 100.0, 100.0),
    # agreeing humans are compared as given by both versions
    ("agree on an article", ["A Dog"] * 10, "a dog", True, 0.0, 0.0),
    # digit/article rule on humans: only 2021 lower-cases "Red." → "red"
    ("humans differ in case", ["Red."] * 4 + ["red"] * 3 + ["blue"] * 3, "red", True, 100.0, 90.0),
    ("digit comma", ["2,000"] * 4 + ["2000"] * 6, "2,000", True, 100.0, 100.0),
    ("contraction", ["dont"] * 5 + ["don't"] * 5, "dont", True, 100.0, 100.0),
    ("article on humans", ["the dog"] * 6 + ["dog"] * 4, "dog", True, 100.0, 100.0),
    # whole-dict comparison: without answer_id the four equal "cat" entries exclude each other
    ("equal entries", ["cat"] * 4 + ["dog"] * 6, "cat", False, 60.0, 60.0),
    ("equal entries with ids", ["cat"] * 4 + ["dog"] * 6, "cat", True, 100.0, 100.0),
    ("three answers", ["cat", "cat", "dog"], "cat", True, 44.44, 44.44),
    ("one answer", ["cat"], "cat", True, 0.0, 0.0),
]


def _annotation(gts, ids):
    answers = []
    for j, a in enumerate(gts):
        entry = {"answer": a, "answer_confidence": "yes"}
        if ids:
            entry["answer_id"] = j + 1
        answers.append(entry)
    return {"answer_type": "other", "question_type": "what", "answers": answers}


@pytest.mark.parametrize("version", ["2021", "legacy"])
@pytest.mark.parametrize(("case", "gts", "pred", "ids", "v2021", "legacy"), CASES)
def test_official_case(version, case, gts, pred, ids, v2021, legacy):
    m = vqa_accuracy({1: _annotation(gts, ids)}, {1: pred}, version=version)
    assert m["overall"] == (v2021 if version == "2021" else legacy), case
    assert m["eval_version"] == version


def test_mixing_the_rules_matches_neither():
    """The former rule (prediction always normalised, humans fully) gives 1.0 here."""
    assert question_accuracy("Yes.", ["yes"] * 10, "2021") == 0.0
    assert question_accuracy("red", ["Red."] * 4 + ["red"] * 3 + ["blue"] * 3, "legacy") == 0.9


ADVERSARIAL = {
    (0, "2021"): (40.29, {"number": 40.18, "other": 37.21, "yes/no": 43.76},
                  {"how many": 44.54, "how many of": 33.9, "is the": 43.02, "is the of": 44.48,
                   "what color": 33.27, "what color of": 41.46}),
    (0, "legacy"): (28.27, {"number": 28.43, "other": 25.39, "yes/no": 31.21},
                    {"how many": 29.73, "how many of": 26.55, "is the": 32.3, "is the of": 30.14,
                     "what color": 26.04, "what color of": 24.69}),
    (1, "2021"): (45.5, {"number": 50.41, "other": 39.57, "yes/no": 47.04},
                  {"how many": 59.77, "how many of": 38.37, "is the": 49.69, "is the of": 43.95,
                   "what color": 42.54, "what color of": 37.21}),
    (1, "legacy"): (31.72, {"number": 35.03, "other": 25.26, "yes/no": 35.36},
                    {"how many": 44.01, "how many of": 23.49, "is the": 39.36, "is the of": 30.71,
                     "what color": 25.95, "what color of": 24.72}),
    (2, "2021"): (44.22, {"number": 41.19, "other": 41.39, "yes/no": 50.68},
                  {"how many": 40.0, "how many of": 42.38, "is the": 51.75, "is the of": 49.67,
                   "what color": 41.23, "what color of": 41.61}),
    (2, "legacy"): (26.74, {"number": 26.64, "other": 22.68, "yes/no": 31.1},
                    {"how many": 29.4, "how many of": 23.89, "is the": 34.08, "is the of": 28.26,
                     "what color": 21.59, "what color of": 24.15}),
}  # fmt: skip


@pytest.mark.parametrize(("seed", "version"), sorted(ADVERSARIAL))
def test_adversarial_files_equal_official(tmp_path, seed, version):
    p = vqa_adversarial.write(tmp_path, 400, seed)
    m = evaluate_files(p["q"], p["p"], p["a"], "vqa", version)
    overall, per_answer_type, per_question_type = ADVERSARIAL[seed, version]
    assert m["overall"] == overall
    assert m["perAnswerType"] == per_answer_type
    assert m["perQuestionType"] == per_question_type


def test_evaluate_command_records_version(tmp_path, capsys):
    p = vqa_adversarial.write(tmp_path, 400, 0)
    out = tmp_path / "m.json"
    args = ["evaluate", "--questions", str(p["q"]), "--annotations", str(p["a"])]
    args += ["--predictions", str(p["p"]), "--out", str(out)]
    assert main([*args, "--eval-version", "legacy"]) == 0
    m = json.loads(out.read_text())
    assert (m["eval_version"], m["overall"]) == ("legacy", 28.27)
    assert "legacy" in m["evaluation"]
    assert main(args) == 0
    assert json.loads(out.read_text())["eval_version"] == "2021"
    assert "val_seen_in_training" not in json.loads(out.read_text())  # split not given
    assert main([*args, "--split", "train+val"]) == 0
    m = json.loads(out.read_text())
    assert (m["trained_on"], m["val_seen_in_training"], m["val"]) == (
        "train+val", True, "seen in training"
    )  # fmt: skip
    assert main([*args, "--split", "train"]) == 0
    assert json.loads(out.read_text())["val"] == "held out"
    with pytest.raises(SystemExit) as stop:
        main([*args, "--eval-version", "2014"])
    assert stop.value.code == 2
    assert "legacy" in capsys.readouterr().err
