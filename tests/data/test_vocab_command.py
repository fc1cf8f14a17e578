"""`lsat vocab`: official source order, answer lists, and one message for missing files."""

import json
from pathlib import Path

import pytest
import yaml

from lsat.cli import main
from lsat.config import dataset_config, load_config
from lsat.data.answers import read_answers, write_answers
from lsat.data.demo_files import write_demo
from lsat.data.tokens import build_vocab, read_vocab
from lsat.data.vocab import build


@pytest.fixture(scope="module")
def raw(tmp_path_factory):
    root = tmp_path_factory.mktemp("vocab")
    write_demo(root / "raw", seed=2, images={"train": 4, "val": 2, "test": 2, "vg": 2},
               questions_per_image=8)  # fmt: skip
    return root / "raw"


def _config(tmp_path, **datasets):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"results_dir": str(tmp_path / "res"), "datasets": datasets}))
    return path


def test_vocab_command_writes_both_files(raw, tmp_path, capsys):
    cfg = _config(tmp_path, d={"format": "vqa", "raw_dir": str(raw / "vqa"),
                               "vocab": {"min_answer_count": 1}})  # fmt: skip
    assert main(["vocab", "--config", str(cfg), "--dataset", "d"]) == 0
    ds = dataset_config(load_config(cfg), "d")
    token_to_ix, max_token = read_vocab(ds.paths.vocab)
    sources = json.loads(ds.paths.vocab.read_text())["sources"]
    assert [s.rsplit("/", 1)[1] for s in sources] == [
        "v2_OpenEnded_mscoco_train2014_questions.json",
        "v2_OpenEnded_mscoco_val2014_questions.json",
        "v2_OpenEnded_mscoco_test2015_questions.json",
        "VG_questions.json",  # present, so included although no split trains on VG
    ]
    texts = [q["question"] for s in sources for q in json.loads(Path(s).read_text())["questions"]]
    assert token_to_ix == build_vocab(texts) and max_token == 14
    answers = read_answers(ds.paths.answers)
    mc = [
        a["multiple_choice_answer"]
        for name in ("v2_mscoco_train2014_annotations.json", "v2_mscoco_val2014_annotations.json")
        for a in json.loads((raw / "vqa" / name).read_text())["annotations"]
    ]
    assert answers == [a for a in dict.fromkeys(mc) if mc.count(a) > 1]
    assert "tokens" in capsys.readouterr().out


def test_official_answer_dict_fixes_the_order(raw, tmp_path):
    official = tmp_path / "answer_dict.json"
    write_answers(official, ["zebra", "yes", "no"])
    cfg = _config(tmp_path, d={"format": "vqa", "raw_dir": str(raw / "vqa"),
                               "vocab": {"answer_dict": str(official)}})  # fmt: skip
    ds = dataset_config(load_config(cfg), "d")
    build(ds)
    assert read_answers(ds.paths.answers) == ["zebra", "yes", "no"]


def test_clevr_vocab_uses_longest_question_and_every_answer(raw, tmp_path):
    cfg = _config(tmp_path, c={"format": "clevr", "raw_dir": str(raw / "clevr")})
    ds = dataset_config(load_config(cfg), "c")
    info = build(ds)
    qs = [
        q
        for split in ("train", "val", "test")
        for q in json.loads((raw / "clevr" / "questions" / f"CLEVR_{split}_questions.json")
                            .read_text())["questions"]
    ]  # fmt: skip
    assert info["max_token"] == max(len(q["question"].split()) for q in qs)
    train_val = [q["answer"] for q in qs if "answer" in q]
    assert read_answers(ds.paths.answers) == list(dict.fromkeys(train_val))


def test_missing_raw_files_are_listed_in_one_message(tmp_path, capsys):
    cfg = _config(tmp_path, d={"format": "vqa", "raw_dir": str(tmp_path / "none"),
                               "train": {"splits": ["train+val+vg"]}})  # fmt: skip
    assert main(["vocab", "--config", str(cfg), "--dataset", "d"]) == 2
    err = capsys.readouterr().err
    assert "missing 7 raw file(s)" in err
    for name in ("v2_mscoco_val2014_annotations.json", "VG_questions.json", "VG_annotations.json"):
        assert name in err
    assert "Traceback" not in err
    cfg = _config(tmp_path, d={"format": "vqa", "raw_dir": str(tmp_path / "none")})
    assert main(["vocab", "--config", str(cfg), "--dataset", "d"]) == 2
    assert "VG_questions.json" not in capsys.readouterr().err  # VG optional unless trained on
