"""VQA/VG and CLEVR readers: malformed files fail with the file and the question id named."""

import json

import pytest

from lsat.data import clevr, vqa
from lsat.errors import LsatError


def _write(path, obj):
    path.write_text(json.dumps(obj))
    return path


def _q(qid=10, image_id=1, question="Is it red?"):
    return {"question_id": qid, "image_id": image_id, "question": question}


def _a(qid=10, image_id=1, answer="yes"):
    return {
        "question_id": qid,
        "image_id": image_id,
        "answer_type": "yes/no",
        "multiple_choice_answer": answer,
        "answers": [
            {"answer": answer, "answer_confidence": "yes", "answer_id": i + 1} for i in range(10)
        ],
    }


def test_vqa_questions_and_annotations_join(tmp_path):
    qp = _write(tmp_path / "q.json", {"questions": [_q(10), _q(11, 2, "What?")]})
    ap = _write(tmp_path / "a.json", {"annotations": [_a(11, 2, "two"), _a(10)]})
    qs = vqa.attach_annotations(vqa.read_questions(qp), vqa.read_annotations(ap), qp, ap)
    assert [(q.qid, q.image_id, q.answer, len(q.answers)) for q in qs] == [
        (10, 1, "yes", 10), (11, 2, "two", 10),
    ]  # fmt: skip
    assert qs[0].answer_type == "yes/no"


@pytest.mark.parametrize(
    ("item", "pattern"),
    [
        ({"question_id": 7, "image_id": 1}, r"q\.json: question id 7 has no 'question' key"),
        (
            {"question_id": 7, "image_id": "1", "question": "x"},
            r"question id 7: 'image_id' must be an integer",
        ),
        (
            {"question_id": "7", "image_id": 1, "question": "x"},
            r"question #0: 'question_id' must be an integer",
        ),
        (
            {"question_id": True, "image_id": 1, "question": "x"},
            r"'question_id' must be an integer",
        ),
        ("not an object", r"question #0 must be a JSON object"),
    ],
)
def test_malformed_question_is_named(tmp_path, item, pattern):
    qp = _write(tmp_path / "q.json", {"questions": [item]})
    with pytest.raises(LsatError, match=pattern):
        vqa.read_questions(qp)


@pytest.mark.parametrize(
    ("item", "pattern"),
    [
        ({"question_id": 7, "image_id": 1}, r"q\.json: question id 7 has no 'question' key"),
        ({"question_id": 7.0, "image_id": 1, "question": "x"}, r"'question_id' must be an"),
        ({"question_id": 7, "image_id": True, "question": "x"}, r"'image_id' must be an"),
        ({"question_id": 7, "image_id": 1, "question": " \t"}, r"question id 7: 'question' is"),
        ({"question_id": 7, "image_id": 1, "question": ""}, r"question id 7: 'question' is"),
        ({"question_id": 7, "image_id": 1, "question": ["x"]}, r"'question' must be a string"),
        ("not an object", r"question #1 must be a JSON object"),
    ],
)
@pytest.mark.parametrize("reader", [vqa.read_questions, vqa.read_question_ids])
def test_fast_pass_refuses_what_the_checks_name(tmp_path, reader, item, pattern):
    """The one-pass check of well-formed files lets nothing through that the per-key
    checks refuse, and the error is the per-key check's (the item after a good one)."""
    qp = _write(tmp_path / "q.json", {"questions": [_q(1), item]})
    with pytest.raises(LsatError, match=pattern):
        reader(qp)


def test_question_ids_are_the_questions_ids(tmp_path):
    qp = _write(tmp_path / "q.json", {"questions": [_q(10), _q(3, 2, "What?"), _q(7)]})
    assert vqa.read_question_ids(qp) == [q.qid for q in vqa.read_questions(qp)] == [10, 3, 7]
    assert [(q.image_id, q.question) for q in vqa.read_questions(qp)] == [
        (1, "Is it red?"), (2, "What?"), (1, "Is it red?"),
    ]  # fmt: skip
    _write(qp, {"questions": [_q(5), _q(6), _q(5)]})
    with pytest.raises(LsatError, match=r"question id 5 appears more than once"):
        vqa.read_question_ids(qp)


def test_duplicate_question_id_and_wrong_top_level(tmp_path):
    qp = _write(tmp_path / "q.json", {"questions": [_q(5), _q(5)]})
    with pytest.raises(LsatError, match=r"q\.json: question id 5 appears more than once"):
        vqa.read_questions(qp)
    _write(qp, [_q(5)])
    with pytest.raises(LsatError, match=r"q\.json: expected a JSON object with a 'questions' list"):
        vqa.read_questions(qp)
    qp.write_text("{oops")
    with pytest.raises(LsatError, match=r"q\.json is not valid JSON"):
        vqa.read_questions(qp)
    with pytest.raises(LsatError, match="VQA question file not found"):
        vqa.read_questions(tmp_path / "missing.json")


def test_malformed_annotations_are_named(tmp_path):
    bad = _a(10)
    del bad["answers"][3]["answer"]
    ap = _write(tmp_path / "a.json", {"annotations": [bad]})
    with pytest.raises(
        LsatError, match=r"a\.json: annotation of question id 10, answer #3 has no 'answer'"
    ):
        vqa.read_annotations(ap)
    bad = _a(10)
    bad["multiple_choice_answer"] = 3
    _write(ap, {"annotations": [bad]})
    with pytest.raises(
        LsatError, match=r"question id 10: 'multiple_choice_answer' must be a string"
    ):
        vqa.read_annotations(ap)
    bad["multiple_choice_answer"], bad["answers"] = "yes", []
    _write(ap, {"annotations": [bad]})
    with pytest.raises(LsatError, match=r"question id 10: 'answers' is empty"):
        vqa.read_annotations(ap)


def test_annotation_without_question_and_question_without_annotation(tmp_path):
    qp = _write(tmp_path / "q.json", {"questions": [_q(10)]})
    ap = _write(tmp_path / "a.json", {"annotations": [_a(10), _a(99)]})
    with pytest.raises(
        LsatError,
        match=r"a\.json: annotation of question id 99 has no matching question in .*q\.json",
    ):
        vqa.attach_annotations(vqa.read_questions(qp), vqa.read_annotations(ap), qp, ap)
    _write(qp, {"questions": [_q(10), _q(11)]})
    _write(ap, {"annotations": [_a(10)]})
    with pytest.raises(LsatError, match=r"q\.json: question id 11 has no annotation in .*a\.json"):
        vqa.attach_annotations(vqa.read_questions(qp), vqa.read_annotations(ap), qp, ap)
    _write(ap, {"annotations": [_a(10, image_id=3), _a(11)]})
    with pytest.raises(LsatError, match=r"question id 10 has image_id 3 but .* gives image_id 1"):
        vqa.attach_annotations(vqa.read_questions(qp), vqa.read_annotations(ap), qp, ap)


def _cq(index, answer="yes", function="exist"):
    return {
        "image_index": 0,
        "image_filename": "CLEVR_train_000000.png",
        "question": "Is there a cube?",
        "question_index": index,
        "answer": answer,
        "program": [{"function": "scene", "inputs": [], "value_inputs": []},
                    {"function": function, "inputs": [0], "value_inputs": []}],
    }  # fmt: skip


def test_clevr_reader_and_categories(tmp_path):
    qp = _write(tmp_path / "CLEVR_train_questions.json", {"info": {}, "questions": [
        _cq(0), _cq(1, "3", "count"), _cq(2, "no", "greater_than"), _cq(3, "red", "query_color"),
        _cq(4, "yes", "equal_integer")]})  # fmt: skip
    qs = clevr.read_questions(qp)
    assert [q.category for q in qs] == [
        "Exist", "Count", "Compare Numbers", "Query Attribute", "Compare Attribute",
    ]  # fmt: skip
    assert qs[1].answer == "3" and qs[1].answers == ["3"]


def test_clevr_malformed_items_are_named(tmp_path):
    item = _cq(4)
    del item["answer"]
    qp = _write(tmp_path / "CLEVR_val_questions.json", {"questions": [item]})
    with pytest.raises(
        LsatError, match=r"CLEVR_val_questions\.json: question_index 4 has no 'answer'"
    ):
        clevr.read_questions(qp)
    assert clevr.read_questions(qp, require_answers=False)[0].answer is None
    item = _cq(4)
    item["program"] = []
    _write(qp, {"questions": [item]})
    with pytest.raises(LsatError, match=r"question_index 4: 'program' is empty"):
        clevr.read_questions(qp)
    item["program"] = [{"inputs": []}]
    _write(qp, {"questions": [item]})
    with pytest.raises(LsatError, match=r"question_index 4, program step 0 has no 'function'"):
        clevr.read_questions(qp)
