"""Bad inputs end in one clear message (exit 2, no traceback): empty sets and questions,
evaluation files that do not describe the same questions."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from test_engine_pipeline import world  # noqa: F401  (the demo-world fixture)

from lsat.cli import main
from lsat.data import clevr, vqa
from lsat.errors import LsatError


def _one_line(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    return err


def test_empty_val_set_is_refused_not_scored_zero(world, capsys):  # noqa: F811
    root, cfg = world
    raw = root / "data" / "vqa"
    qfile = raw / "v2_OpenEnded_mscoco_val2014_questions.json"
    afile = raw / "v2_mscoco_val2014_annotations.json"
    saved = {p: p.read_text() for p in (qfile, afile)}
    qfile.write_text(json.dumps({**json.loads(saved[qfile]), "questions": []}))
    afile.write_text(json.dumps({**json.loads(saved[afile]), "annotations": []}))
    try:
        c = ["train", "--config", str(cfg), "--dataset", "demo", "--split", "train"]
        assert main([*c, "--restart"]) == 2
        err = _one_line(capsys)
        assert "question set 'val' of dataset 'demo' has no questions" in err
        assert str(qfile) in err
    finally:
        for p, text in saved.items():
            p.write_text(text)


@pytest.mark.parametrize("text", ["", "   "])
def test_empty_question_text_is_named(tmp_path, text):
    q = tmp_path / "q.json"
    q.write_text(json.dumps({"questions": [{"question_id": 5, "image_id": 1, "question": text}]}))
    with pytest.raises(LsatError, match=r"q\.json: question id 5: 'question' is empty"):
        vqa.read_questions(q)
    c = tmp_path / "c.json"
    item = {"question_index": 3, "image_index": 1, "question": text, "answer": "yes"}
    c.write_text(json.dumps({"questions": [item]}))
    with pytest.raises(LsatError, match=r"c\.json: question_index 3: 'question' is empty"):
        clevr.read_questions(c)


def _eval_files(tmp_path: Path, ann_ids=(1, 2), ann_image=7) -> list[str]:
    qs = [{"question_id": i, "image_id": 7, "question": "what?"} for i in (1, 2)]
    anns = [
        {
            "question_id": i,
            "image_id": ann_image,
            "answer_type": "other",
            "multiple_choice_answer": "red",
            "answers": [{"answer": "red", "answer_id": j + 1} for j in range(10)],
        }
        for i in ann_ids
    ]
    preds = [{"question_id": i, "answer": "red"} for i in ann_ids]
    files = {"q": {"questions": qs}, "a": {"annotations": anns}, "p": preds}
    for name, obj in files.items():
        (tmp_path / f"{name}.json").write_text(json.dumps(obj))
    q, a, p = (str(tmp_path / f"{n}.json") for n in "qap")
    return ["evaluate", "--questions", q, "--annotations", a, "--predictions", p]


def test_evaluate_refuses_questions_without_annotations(tmp_path, capsys):
    assert main(_eval_files(tmp_path)) == 0
    capsys.readouterr()
    assert main(_eval_files(tmp_path, ann_ids=(1,))) == 2
    assert "q.json: question id 2 has no annotation in" in _one_line(capsys)


def test_evaluate_refuses_mismatched_image_ids(tmp_path, capsys):
    assert main(_eval_files(tmp_path, ann_image=8)) == 2
    err = _one_line(capsys)
    assert "annotation of question id 1 has image_id 8" in err and "gives image_id 7" in err


def test_ddp_rank_errors_are_not_buried_under_a_torchrun_traceback(world):  # noqa: F811
    """`lsat train --nproc 2` on a bad setting: each rank's one line, then one line of ours."""
    _root, cfg = world
    cmd = [sys.executable, "-m", "lsat.cli", "train", "--config", str(cfg), "--dataset", "demo",
           "--split", "train", "--nproc", "2", "--set", "finetune=null",
           "--set", "train.result_split=finetune"]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2  # the rank's status for bad input, as without --nproc
    assert "Traceback" not in proc.stderr and "OMP_NUM_THREADS" not in proc.stderr, proc.stderr
    assert "result_split is finetune but datasets.demo.finetune is null" in proc.stderr
    # Whichever rank fails first, torchrun stops the other with SIGTERM.
    assert re.search(r"lsat: DDP run failed \(rank [01] exit status 2", proc.stderr), proc.stderr
