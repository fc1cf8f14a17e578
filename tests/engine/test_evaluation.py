"""VQA accuracy against hand-computed official numbers, CLEVR accuracy, and result files."""

from __future__ import annotations

import json

import pytest

from lsat.cli import main
from lsat.engine.results import check_result, write_result
from lsat.engine.vqa_eval import question_accuracy
from lsat.errors import LsatError

# (answer_type, 10 human answers, prediction, official accuracy)
CASES = [
    ("yes/no", ["yes"] * 10, "yes", 1.0),
    # disagreeing answers are normalised: "two" → "2"
    ("number", ["2"] * 2 + ["two"] * 8, "2", 1.0),
    # leave-one-out: dropping a "red" leaves 1 match (1/3), dropping a "blue" 2 (2/3)
    ("other", ["red"] * 2 + ["blue"] * 8, "red", 0.6),
    # the prediction is always normalised (punctuation, case)
    ("other", ["red"] * 2 + ["blue"] * 8, "Red.", 0.6),
    # agreeing human answers are NOT normalised (official quirk): "a dog" → "dog" ≠ "A Dog"
    ("other", ["A Dog"] * 10, "a dog", 0.0),
    ("other", ["cat"] * 3 + ["dog"] * 7, "cat", 0.9),
]


@pytest.mark.parametrize(("kind", "gts", "pred", "acc"), CASES)
def test_question_accuracy(kind, gts, pred, acc):
    assert question_accuracy(pred, gts) == pytest.approx(acc)


def _vqa_files(tmp_path):
    qs, anns, preds = [], [], []
    for i, (kind, gts, pred, _) in enumerate(CASES):
        qs.append({"question_id": i, "image_id": 7, "question": "q?"})
        anns.append(
            {
                "question_id": i,
                "image_id": 7,
                "answer_type": kind,
                "question_type": "how many" if kind == "number" else "what",
                "multiple_choice_answer": gts[0],
                "answers": [
                    {"answer": a, "answer_confidence": "yes", "answer_id": j + 1}
                    for j, a in enumerate(gts)
                ],
            }
        )
        preds.append({"question_id": i, "answer": pred})
    paths = {n: tmp_path / f"{n}.json" for n in ("q", "a", "p")}
    paths["q"].write_text(json.dumps({"questions": qs}))
    paths["a"].write_text(json.dumps({"annotations": anns}))
    paths["p"].write_text(json.dumps(preds))
    return paths


def test_evaluate_command_vqa(tmp_path, capsys):
    p = _vqa_files(tmp_path)
    out = tmp_path / "m.json"
    args = ["evaluate", "--questions", str(p["q"]), "--annotations", str(p["a"])]
    assert main([*args, "--predictions", str(p["p"]), "--out", str(out)]) == 0
    m = json.loads(out.read_text())
    # overall (1 + 1 + .6 + .6 + 0 + .9) / 6 = 68.333..; other (.6 + .6 + 0 + .9) / 4 = 52.5
    assert m["overall"] == 68.33
    assert m["perAnswerType"] == {"number": 100.0, "other": 52.5, "yes/no": 100.0}
    # per question type, as vqaEval: "what" = the yes/no and other cases (1 + .6 + .6 + 0 + .9) / 5
    assert m["perQuestionType"] == {"how many": 100.0, "what": 62.0}
    assert "2021" in m["evaluation"]


def test_evaluate_refuses_missing_prediction(tmp_path, capsys):
    p = _vqa_files(tmp_path)
    p["p"].write_text(json.dumps([{"question_id": 0, "answer": "yes"}]))
    args = ["evaluate", "--questions", str(p["q"]), "--annotations", str(p["a"])]
    assert main([*args, "--predictions", str(p["p"])]) == 2
    assert "5 question id(s) missing" in capsys.readouterr().err


def test_evaluate_clevr(tmp_path):
    def q(i, fn, answer):
        return {
            "question_index": i,
            "image_index": 0,
            "image_filename": "x.png",
            "question": "q?",
            "answer": answer,
            "program": [{"function": "scene"}, {"function": fn}],
        }

    questions = [q(0, "count", "2"), q(1, "count", "3"), q(2, "exist", "yes")]
    questions.append(q(3, "less_than", "no"))
    qf, pf, out = tmp_path / "q.json", tmp_path / "p.json", tmp_path / "m.json"
    qf.write_text(json.dumps({"questions": questions}))
    preds = [{"question_id": i, "answer": a} for i, a in enumerate(["2", "4", "yes", "no"])]
    pf.write_text(json.dumps(preds))
    args = ["evaluate", "--format", "clevr", "--questions", str(qf), "--predictions", str(pf)]
    assert main([*args, "--out", str(out)]) == 0
    m = json.loads(out.read_text())
    assert m["overall"] == 75.0
    assert m["perCategory"] == {"Compare Numbers": 100.0, "Count": 50.0, "Exist": 100.0}


def test_result_file_validation(tmp_path, capsys):
    ids = [10, 11, 12]
    good = [{"question_id": i, "answer": "yes"} for i in ids]
    path = tmp_path / "result.json"
    write_result(path, good, ids)
    assert json.loads(path.read_text()) == good
    qf = tmp_path / "test_q.json"
    items = [{"question_id": i, "image_id": 1, "question": "q"} for i in ids]
    qf.write_text(json.dumps({"questions": items}))
    assert main(["validate-result", "--result", str(path), "--questions", str(qf)]) == 0

    assert "covers test2015" not in capsys.readouterr().out  # no data_subtype, plain name

    # which phases a VQA file covers, from the official data_subtype
    full = tmp_path / "v2_OpenEnded_mscoco_test2015_questions.json"
    full.write_text(json.dumps({"data_subtype": "test2015", "questions": items}))
    assert main(["validate-result", "--result", str(path), "--questions", str(full)]) == 0
    assert "covers test2015: a full submission" in capsys.readouterr().out
    dev = tmp_path / "dev.json"
    dev.write_text(json.dumps({"data_subtype": "test-dev2015", "questions": items}))
    assert main(["validate-result", "--result", str(path), "--questions", str(dev)]) == 2
    assert "holds only the test-dev2015 questions" in capsys.readouterr().err
    args = ["validate-result", "--result", str(path), "--questions", str(dev)]
    assert main([*args, "--submission", "test-dev"]) == 0
    assert "covers only test-dev2015" in capsys.readouterr().out

    bad = tmp_path / "bad.json"
    with pytest.raises(LsatError, match=r"1 missing id\(s\) \[12\], 0 duplicate"):
        write_result(bad, good[:2], ids)
    with pytest.raises(LsatError, match=r"0 missing id\(s\) \[\], 1 duplicate id\(s\) \[10\]"):
        write_result(bad, [*good, good[0]], ids)
    with pytest.raises(LsatError, match=r"1 malformed entry\); first: entry #0 'answer' 3"):
        check_result([{"question_id": 10, "answer": 3}], ids, "x")
    assert not bad.exists()
    bad.write_text(json.dumps(good[1:]))
    assert main(["validate-result", "--result", str(bad), "--questions", str(qf)]) == 2
    assert "missing id(s) [10]" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ({"question_id": 10, "answer": "yes"}, r"expected a JSON array .* got dict"),
        (
            [{"question_id": 10, "answer": "yes"}, "no"],
            r"\(1 malformed entry\); first: entry #1 is str",
        ),
        (
            [{"question_id": True, "answer": "yes"}],
            r"entry #0 'question_id' True is not an integer",
        ),
        (
            [{"question_id": 10.5, "answer": "yes"}],
            r"entry #0 'question_id' 10.5 is not an integer",
        ),
        (
            [{"question_id": 10, "answer": "a", "score": 1}, {"question_id": 11}],
            r"\(2 malformed entries\); first: entry #0 has keys missing \[\] "
            r"/ not allowed \['score'\]",
        ),
        ([{"answer": "a"}], r"entry #0 has keys missing \['question_id'\]"),
    ],
)
def test_result_shape_errors_name_the_entry(entries, message):
    """The direct shape check refuses what the JSON schema refuses, naming the first entry."""
    with pytest.raises(LsatError, match=message):
        check_result(entries, [10, 11], "result.json")


def test_result_shape_check_agrees_with_the_documented_schema():
    """The direct check accepts exactly what result.schema.json accepts (jsonschema as oracle)."""
    import jsonschema

    from lsat.engine.results import SCHEMA_PATH, check_shape

    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA_PATH.read_text()))
    samples = [
        [],
        [{"question_id": 1, "answer": ""}],
        [{"question_id": -3, "answer": "two words"}],
        [{"question_id": True, "answer": "a"}],
        [{"question_id": 1.0, "answer": "a"}],
        [{"question_id": 1.5, "answer": "a"}],
        [{"question_id": "1", "answer": "a"}],
        [{"question_id": 1, "answer": None}],
        [{"question_id": 1, "answer": ["a"]}],
        [{"question_id": 1}],
        [{"question_id": 1, "answer": "a", "x": 0}],
        [[1, "a"]],
        {"question_id": 1, "answer": "a"},
        "result",
    ]
    for entries in samples:
        try:
            check_shape(entries, "r.json")
            ours = True
        except LsatError:
            ours = False
        assert ours == validator.is_valid(entries), entries
