"""The config loader fills schema and paper defaults and names the key at fault."""

from pathlib import Path

import pytest
import yaml

from lsat.config import dataset_config, load_config, parse_override
from lsat.errors import LsatError
from lsat.paths import question_file, split_parts

REPO = Path(__file__).resolve().parents[2]


def test_repo_config_validates_and_fills_paper_defaults():
    cfg = load_config(REPO / "config" / "config.yaml")
    vqa = dataset_config(cfg, "vqa")
    assert vqa.train.lr_base == 1e-4
    assert list(vqa.train.lr_decay_list) == [10, 12]
    assert list(vqa.train.opt_betas) == [0.9, 0.98]
    clevr = dataset_config(cfg, "clevr")
    assert clevr.train.grad_accu_steps == 2
    assert clevr.train.loss == "ce"


def test_invalid_value_names_the_key(tmp_path):
    bad = {"datasets": {"d": {"format": "vqa", "raw_dir": "x", "train": {"amp": "fp64"}}}}
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(bad))
    with pytest.raises(LsatError, match=r"datasets\.d\.train\.amp"):
        load_config(path)


def test_unknown_dataset_lists_the_known_ones():
    cfg = load_config(REPO / "config" / "config.yaml")
    with pytest.raises(LsatError, match=r"unknown dataset 'nope'.*demo"):
        dataset_config(cfg, "nope")


def test_overrides_are_parsed_as_yaml(tmp_path):
    key, value = parse_override("datasets.demo.train.max_epoch=3")
    cfg = load_config(REPO / "config" / "config.yaml", {key: value})
    assert cfg["datasets"]["demo"]["train"]["max_epoch"] == 3


def test_unknown_split_is_refused():
    with pytest.raises(LsatError, match=r"unknown split 'train\+test'"):
        split_parts("vqa", "train+test")


def test_official_file_names():
    assert question_file("r", "vqa", "test").name == "v2_OpenEnded_mscoco_test2015_questions.json"
    assert question_file("r", "clevr", "val") == Path("r/questions/CLEVR_val_questions.json")


def test_override_reads_exponent_without_dot_as_number():
    assert parse_override("train.lr_base=1e-4") == ("train.lr_base", 1e-4)
    assert parse_override("model.name=mcan") == ("model.name", "mcan")
