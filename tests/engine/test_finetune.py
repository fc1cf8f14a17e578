"""The fine-tune stage continues a run as openvqa's resume does (lsat.engine.finetune)."""

from __future__ import annotations

import json

import pytest
import torch
import yaml
from test_engine_pipeline import world  # noqa: F401  (the demo-world fixture)

from lsat.cli import main
from lsat.config import load_config
from lsat.errors import LsatError

NO_DROPOUT = ["--set", "model.options.dropout_r=0"]


def _weights(path):
    return torch.load(path, weights_only=True)["state_dict"]


def test_finetune_continues_the_source_epoch_exactly(world):  # noqa: F811
    """Fine-tuning epoch 1 of `train` for one epoch on `train` itself must give the source's
    own epoch 2: same weights, Adam state, learning rate (decay point 1 kept) and data."""
    root, cfg = world
    c = ["train", "--config", str(cfg), "--dataset", "demo", *NO_DROPOUT]
    assert main([*c, "--split", "train", "--restart"]) == 0
    source = root / "results" / "demo" / "train"
    same = "finetune={from_split: train, from_epoch: 1, split: train, epochs: 1}"
    assert main([*c, "--split", "finetune", "--set", same, "--restart"]) == 0
    run = root / "results" / "demo" / "finetune"
    metrics = json.loads((run / "metrics.json").read_text())
    epochs = metrics["epochs"]
    assert [e["epoch"] for e in epochs] == [2]
    # TINY_TRAIN: lr 1e-3, one warm-up epoch, decay ×0.2 at 1 → epoch index 1 runs at 2e-4
    assert epochs[0]["lr"] == pytest.approx(2e-4)
    source_epoch2 = _weights(source / "checkpoints" / "epoch2.pt")
    tuned = _weights(run / "model.pt")
    for k, v in source_epoch2.items():
        torch.testing.assert_close(tuned[k], v, rtol=0, atol=1e-6, msg=k)
    assert "fine-tune from" in (run / "log.txt").read_text()

    # on another split: trains train+val from epoch 1, writes the run's files, predicts
    other = "finetune={from_split: train, from_epoch: 1, split: train+val, epochs: 1}"
    assert main([*c, "--split", "finetune", "--set", other]) == 0
    log = (run / "log.txt").read_text()
    assert "split finetune = train+val" in log and "epochs 2..2 on train+val" in log
    p = ["predict", "--config", str(cfg), "--dataset", "demo", *NO_DROPOUT, "--set", other]
    assert main([*p, "--split", "finetune", "--on", "test"]) == 0


def test_finetune_settings_are_checked(world, tmp_path):  # noqa: F811
    _, cfg = world
    c = ["train", "--config", str(cfg), "--dataset", "demo", "--split", "finetune"]
    with pytest.raises(LsatError, match="has no finetune settings"):
        from lsat.engine.fit import train_run

        train_run(cfg, "demo", "finetune")
    bad = "finetune={from_split: train+val+vg, from_epoch: 1, split: train, epochs: 1}"
    assert main([*c, "--set", bad, "--set", "train.splits=[train]"]) == 2
    late = "finetune={from_split: train, from_epoch: 9, split: train, epochs: 1}"
    assert main([*c, "--set", late]) == 2
    data = yaml.safe_load(cfg.read_text())
    data["datasets"]["demo"]["train"]["result_split"] = "finetune"
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(data))
    with pytest.raises(LsatError, match="result_split is finetune but"):
        from lsat.config import dataset_config

        dataset_config(load_config(tmp_path / "c.yaml"), "demo")


def test_gumbel_eval_next_to_the_deterministic_scores(world, capsys):  # noqa: F811
    root, cfg = world
    hard = ["--set", "model.options.routing=hard", "--set", "train.max_epoch=1"]
    c = ["--config", str(cfg), "--dataset", "demo", "--split", "train", *hard]
    assert main(["train", *c, "--restart"]) == 0
    metrics_file = root / "results" / "demo" / "train" / "val_metrics.json"
    assert main(["predict", *c, "--on", "val"]) == 0
    plain = json.loads(metrics_file.read_text())
    assert "gumbel_eval" not in plain
    assert main(["predict", *c, "--on", "val", "--gumbel-eval", "--gumbel-seed", "5"]) == 0
    out = capsys.readouterr().out
    noisy = json.loads(metrics_file.read_text())
    assert noisy["overall"] == plain["overall"]  # the deterministic scores are unchanged
    g = noisy["gumbel_eval"]
    assert (g["tau"], g["seed"]) == (10.0, 5) and 0 <= g["overall"] <= 100
    assert f"with the official Gumbel noise (tau 10): {g['overall']:.2f}" in out
    assert main(["predict", *c, "--on", "val", "--gumbel-eval", "--gumbel-seed", "5"]) == 0
    assert json.loads(metrics_file.read_text())["gumbel_eval"] == g  # seeded
    soft = ["--config", str(cfg), "--dataset", "demo", "--split", "train", "--restart"]
    assert main(["train", *soft, "--set", "train.max_epoch=1"]) == 0
    p = ["predict", "--config", str(cfg), "--dataset", "demo", "--split", "train"]
    assert main([*p, "--set", "train.max_epoch=1", "--on", "val", "--gumbel-eval"]) == 2
    assert "has no hard routing" in capsys.readouterr().err
