"""Bad values given on the command line or in the config: one clear message each."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from lsat.cli import main
from lsat.config import parse_override


def _config(tmp_path: Path, train: dict | None = None) -> Path:
    ds = {"format": "vqa", "raw_dir": str(tmp_path / "raw"), "demo": True}
    if train:
        ds["train"] = train
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"results_dir": str(tmp_path / "r"), "datasets": {"demo": ds}}))
    return path


def _train(tmp_path: Path, capsys, *sets: str, dataset: str = "demo") -> str:
    argv = ["train", "--config", str(_config(tmp_path)), "--dataset", dataset, "--split", "train"]
    for s in sets:
        argv += ["--set", s]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    return err


def test_set_value_that_is_not_yaml(tmp_path, capsys):
    err = _train(tmp_path, capsys, "train.opt_betas=[0.9, 0.98")
    assert "override 'train.opt_betas=[0.9, 0.98': the value is not valid YAML" in err


def test_set_with_an_empty_value(tmp_path, capsys):
    err = _train(tmp_path, capsys, "train.max_epoch=")
    assert "'train.max_epoch=' has an empty value" in err
    assert parse_override("train.max_epoch=null") == ("train.max_epoch", None)


def test_unknown_dataset_with_set(tmp_path, capsys):
    err = _train(tmp_path, capsys, "train.max_epoch=2", dataset="nope")
    assert "unknown dataset 'nope'" in err and "defines demo" in err
    assert "required property" not in err


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        (
            ["train.grad_accu_steps=128", "train.batch_size=64"],
            "grad_accu_steps 128 does not divide",
        ),
        (["train.grad_accu_steps=3", "train.batch_size=64"], "grad_accu_steps 3 does not divide"),
        (["train.lr_base=-1e-4"], "lr_base -0.0001: expected a positive learning rate"),
        (["train.lr_base=0"], "expected a positive learning rate"),
    ],
)
def test_impossible_training_values(tmp_path, capsys, sets, message):
    assert message in _train(tmp_path, capsys, *sets)


def test_decay_beyond_max_epoch_warns_once(tmp_path, capsys):
    from lsat.engine.fit import load_dataset_config

    cfg = _config(tmp_path, {"max_epoch": 5, "lr_decay_list": [3, 7]})
    load_dataset_config(cfg, "demo", [])
    load_dataset_config(cfg, "demo", [])
    err = capsys.readouterr().err
    assert err.count("warning") == 1 and "lr_decay_list [7] at or beyond max_epoch 5" in err


def test_non_utf8_config(tmp_path, capsys):
    cfg = tmp_path / "config.yaml"
    cfg.write_bytes(b"results_dir: r\xe9sultats\n")
    assert main(["train", "--config", str(cfg), "--dataset", "demo", "--split", "train"]) == 2
    assert "is not UTF-8 text" in capsys.readouterr().err
