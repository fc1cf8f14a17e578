"""The engine on the real demo pipeline: demo-data → extract → vocab → train → predict."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from lsat.cli import main
from lsat.data.tokens import read_vocab
from lsat.engine.trainer import STOP_CHECK_STEPS, seed_everything
from lsat.features.store import FeatureStore
from lsat.models import build_model

# Biases in front of a softmax that they shift uniformly (keys; the pooling glimpse logits):
# their true gradient is zero, so both runs' updates are Adam-amplified rounding noise.
SHIFT_INVARIANT = ("linear_k.bias", "attflat_img.mlp.linear.bias", "attflat_lang.mlp.linear.bias")
REPO = Path(__file__).resolve().parents[2]
TINY_MODEL = {
    "layer": 1,
    "hidden_size": 16,
    "ff_size": 32,
    "multi_head": 2,
    "flat_mlp_size": 16,
    "flat_out_size": 32,
    "word_embed_size": 16,
    "orders": [0, 1],
}
TINY_TRAIN = {
    "splits": ["train"],
    "batch_size": 16,
    "max_epoch": 2,
    "lr_base": 1e-3,
    "warmup_epochs": 1,
    "lr_decay_list": [1],
    "cpu_threads": 1,
}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("world")
    feats = {"backend": "pixels", "grid": 4, "cell_pixels": 2}
    cfg = {
        "results_dir": str(root / "results"),
        "demo_world": {
            "out_dir": str(root / "data"),
            "images": {"train": 16, "val": 6, "test": 6, "vg": 4},
            "questions_per_image": 4,
            "image_size": 32,
        },
        "datasets": {
            "demo": {
                "format": "vqa",
                "raw_dir": str(root / "data" / "vqa"),
                "demo": True,
                "features": feats,
                "model": {"name": "trar", "options": TINY_MODEL},
                "train": TINY_TRAIN,
            },
            "demo-clevr": {
                "format": "clevr",
                "raw_dir": str(root / "data" / "clevr"),
                "demo": True,
                "features": feats,
                "model": {"name": "mcan", "options": TINY_MODEL},
                "train": TINY_TRAIN,
            },
        },
    }
    path = root / "config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    c = ["--config", str(path)]
    assert main(["demo-data", *c]) == 0
    for ds, sets in (
        ("demo", ("train2014", "val2014", "test2015")),
        ("clevr", ("train", "val", "test")),
    ):
        name = "demo" if ds == "demo" else "demo-clevr"
        for s in sets:
            assert main(["extract", *c, "--dataset", name, "--image-set", s]) == 0
        assert main(["vocab", *c, "--dataset", name]) == 0
    return root, path


def _lsat(args, env=None, check=True):
    full = {**os.environ, **(env or {})}
    proc = subprocess.run(
        [sys.executable, "-m", "lsat.cli", *args], env=full, capture_output=True, text=True
    )
    if check:
        assert proc.returncode == 0, proc.stderr[-2000:]
    return proc


def _initial_weights(ckpt):
    """The weights a run started from: seeded and built as ``lsat train`` does (fit.py)."""
    meta = ckpt["model_meta"]
    seed_everything(ckpt["data_seed"], True)
    model = build_model(
        meta["name"],
        format=meta["format"],
        token_size=meta["token_size"],
        answer_size=meta["answer_size"],
        **meta["options"],
    )
    return model.state_dict()


def _scores(path):
    """A metrics file without its provenance (which names the model file and the times)."""
    return {k: v for k, v in json.loads(path.read_text()).items() if k != "provenance"}


def _weights(path):
    return torch.load(path, weights_only=False)["state_dict"]


def test_train_predict_validate_vqa(world, capsys):
    root, cfg = world
    c = ["--config", str(cfg), "--dataset", "demo", "--split", "train"]
    assert main(["train", *c]) == 0
    run = root / "results" / "demo" / "train"
    for name in ("model.pt", "metrics.json", "log.txt", "curves.png", "checkpoints/epoch2.pt"):
        assert (run / name).is_file(), name
    metrics = json.loads((run / "metrics.json").read_text())
    assert set(metrics["epochs"][-1]["val"]["perAnswerType"]) <= {"yes/no", "number", "other"}
    assert "random init" in (run / "log.txt").read_text()

    assert main(["predict", *c, "--on", "val"]) == 0
    val = json.loads((run / "val_metrics.json").read_text())
    assert val["overall"] == metrics["epochs"][-1]["val"]["overall"]
    assert main(["predict", *c, "--on", "test"]) == 0
    result = root / "results" / "demo" / "result_test.json"
    qfile = root / "data" / "vqa" / "v2_OpenEnded_mscoco_test2015_questions.json"
    entries = json.loads(result.read_text())
    assert len(entries) == len(json.loads(qfile.read_text())["questions"])
    check = ["validate-result", "--questions", str(qfile), "--result"]
    assert main([*check, str(result)]) == 0
    bad = root / "bad.json"
    bad.write_text(json.dumps(entries[1:]))
    assert main([*check, str(bad)]) == 2
    bad.write_text(json.dumps([*entries, entries[0]]))
    assert main([*check, str(bad)]) == 2
    err = capsys.readouterr().err
    assert "1 missing id(s)" in err and "1 duplicate id(s)" in err
    _check_provenance(root, run, result)


def _check_provenance(root, run, result):
    """Every output names the code's commit, the data's hashes, the machine and the times."""
    head = subprocess.run(
        ["git", "-C", str(REPO / "src" / "lsat"), "rev-parse", "HEAD"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    qfile = root / "data" / "vqa" / "v2_OpenEnded_mscoco_train2014_questions.json"
    feats = root / "results" / "demo" / "features" / "train2014.h5"
    with FeatureStore(feats) as store:
        recorded = store.content_sha256
    assert recorded and len(recorded) == 64
    found = {
        "metrics.json": json.loads((run / "metrics.json").read_text())["provenance"],
        "val_metrics.json": json.loads((run / "val_metrics.json").read_text())["provenance"],
        "model.pt": torch.load(run / "model.pt", weights_only=False)["provenance"],
        "last.pt": torch.load(run / "checkpoints" / "last.pt", weights_only=False)["provenance"],
        "result sidecar": json.loads(result.with_name("result_test.provenance.json").read_text()),
    }
    for where, prov in found.items():
        assert prov["code"]["commit"] == head, where
        assert isinstance(prov["code"]["dirty"], bool), where
        assert prov["versions"]["torch"] == torch.__version__, where
        assert prov["device"].startswith("CPU") and prov["host"], where
        assert prov["start"] <= prov["end"], where
        assert len(prov["config_sha256"]) == 64 and len(prov["vocab_sha256"]) == 64, where
    train_prov = found["metrics.json"]
    assert train_prov["data"][str(qfile)] == hashlib.sha256(qfile.read_bytes()).hexdigest()
    assert train_prov["features"][str(feats)] == recorded
    assert found["val_metrics.json"]["training"]["start"] == train_prov["start"]
    assert main(["provenance", str(run / "model.pt")]) == 0
    assert main(["provenance", str(result)]) == 0


def test_official_format_checkpoint_scores_what_the_run_scored(world, capsys):
    """A demo run re-saved as openvqa does (DataParallel keys, no model description) is
    scored by `run.py --CKPT_PATH` and `lsat predict --checkpoint` with no training run."""
    root, cfg = world
    run = root / "results" / "demo" / "train"
    c = ["--config", str(cfg), "--dataset", "demo"]
    if not (run / "val_metrics.json").is_file():
        assert main(["train", *c, "--split", "train"]) == 0
        assert main(["predict", *c, "--split", "train", "--on", "val"]) == 0
    ours = torch.load(run / "model.pt", weights_only=True)
    optimizer = torch.load(run / "checkpoints" / "epoch2.pt", weights_only=True)["optimizer"]
    official = root / "epoch13.pkl"
    state = {f"module.{k}": v for k, v in ours["state_dict"].items()}
    torch.save({"state_dict": state, "optimizer": optimizer, "lr_base": 1e-3, "epoch": 13},
               official)  # fmt: skip
    expected = _scores(run / "val_metrics.json")
    predictions = json.loads((run / "val_predictions.json").read_text())

    args = [sys.executable, str(REPO / "run.py"), "--DATASET=demo", "--CONFIG", str(cfg)]
    proc = subprocess.run([*args, "--RUN=val", f"--CKPT_PATH={official}"], capture_output=True,
                          text=True, timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert f"Overall Accuracy is: {expected['overall']:.2f}" in proc.stdout
    scored = root / "results" / "result_val" / "result_run_epoch13.json"
    assert json.loads(scored.read_text()) == predictions
    metrics = json.loads((root / "results/result_val/metrics_run_epoch13.json").read_text())
    labels = ("trained_on", "val_seen_in_training", "val", "provenance")
    assert (expected["trained_on"], expected["val"]) == ("train", "held out")
    assert metrics["trained_on"] is None and metrics["val"].startswith("unknown")
    assert {k: v for k, v in metrics.items() if k not in labels} == {
        k: v for k, v in expected.items() if k not in labels
    }

    assert main(["predict", *c, "--on", "val", "--checkpoint", str(official)]) == 0
    assert f"Overall Accuracy is: {expected['overall']:.2f}" in capsys.readouterr().out
    folder = root / "results" / "demo" / "scored" / "epoch13"
    scored = json.loads((folder / "val_metrics.json").read_text())
    assert scored["overall"] == expected["overall"] and scored["trained_on"] is None
    assert main(["predict", *c, "--on", "test", "--checkpoint", str(official)]) == 0
    assert json.loads((folder / "result_test.json").read_text())
    # a test-dev-only question file is no test set for the (full-submission) result file
    qfile = root / "data" / "vqa" / "v2_OpenEnded_mscoco_test2015_questions.json"
    saved = qfile.read_text()
    qfile.write_text(json.dumps({**json.loads(saved), "data_subtype": "test-dev2015"}))
    try:
        assert main(["predict", *c, "--on", "test", "--checkpoint", str(official)]) == 2
        assert "holds only the test-dev2015 questions" in capsys.readouterr().err
    finally:
        qfile.write_text(saved)
    proc = subprocess.run([*args, "--RUN=test", f"--CKPT_PATH={root / 'none.pkl'}"],
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert proc.returncode == 2 and "none.pkl" in proc.stderr


def test_sigterm_then_resume_equals_uninterrupted(world):
    root, cfg = world
    cut = ["train", "--config", str(cfg), "--dataset", "demo", "--split", "train+val"]
    proc = _lsat([*cut, "--restart"], env={"LSAT_SIGNAL_AFTER_STEPS": "3"}, check=False)
    assert proc.returncode == 143, proc.stderr[-2000:]
    assert "checkpoint written" in proc.stderr
    ckpt = root / "results" / "demo" / "train+val" / "checkpoints" / "last.pt"
    assert torch.load(ckpt, weights_only=False)["step"] > 0  # stopped inside an epoch
    assert main(cut) == 0  # resumes automatically from last.pt
    resumed = _weights(root / "results" / "demo" / "train+val" / "model.pt")
    assert main([*cut, "--restart"]) == 0
    twin = _weights(root / "results" / "demo" / "train+val" / "model.pt")
    for k in twin:
        assert torch.equal(resumed[k], twin[k]), k


def test_clevr_glove_start_checkpoint_and_test_text(world):
    root, cfg = world
    glove = root / "glove.txt"
    vectors = {"what": 0.5, "circle": -0.25}
    glove.write_text("".join(f"{w} " + " ".join([str(x)] * 300) + "\n" for w, x in vectors.items()))
    c = ["--config", str(cfg), "--dataset", "demo-clevr", "--split", "train"]
    c += ["--set", f"vocab.glove={glove}", "--set", "model.options.word_embed_size=300"]
    # A learning rate small enough that an epoch moves no weight by more than 1e-3: the
    # trained weights still show where they started (GloVe rows, the checkpoint's values).
    c += ["--set", "train.lr_base=1.0e-5", "--set", "train.max_epoch=1"]
    assert main(["train", *c, "--restart"]) == 0
    run = root / "results" / "demo-clevr" / "train"
    assert "word embeddings: GloVe" in (run / "log.txt").read_text()
    first = torch.load(run / "model.pt", weights_only=False)
    token_to_ix, _ = read_vocab(first["model_meta"]["vocab"])
    emb = first["state_dict"]["embedding.weight"]
    for word, x in vectors.items():  # the GloVe rows
        torch.testing.assert_close(emb[token_to_ix[word]], torch.full((300,), x), atol=1e-3, rtol=0)
    no_vector = [i for w, i in token_to_ix.items() if w not in vectors]
    assert emb[no_vector].abs().max() < 1e-3  # words without a vector start at zero
    # Another seed: a fresh initialisation would land far from the first run's weights.
    start = ["--set", f"model.checkpoint={run / 'model.pt'}", "--set", "train.seed=7"]
    assert main(["train", *c, *start, "--restart"]) == 0
    assert "start: weights of" in (run / "log.txt").read_text()
    second = _weights(run / "model.pt")
    for k, v in first["state_dict"].items():  # started from the checkpoint, then one epoch
        torch.testing.assert_close(second[k], v, atol=1e-3, rtol=0, msg=k)
    assert any(not torch.equal(second[k], v) for k, v in first["state_dict"].items())
    assert main(["predict", *c, "--on", "test"]) == 0
    qfile = root / "data" / "clevr" / "questions" / "CLEVR_test_questions.json"
    n = len(json.loads(qfile.read_text())["questions"])
    lines = (root / "results" / "demo-clevr" / "result_test.txt").read_text().splitlines()
    assert len(lines) == n
    result = root / "results" / "demo-clevr" / "result_test.json"
    answers = {e["question_id"]: e["answer"] for e in json.loads(result.read_text())}
    assert lines == [answers[q] for q in sorted(answers)]


def test_a_new_start_checkpoint_counts_after_the_old_run_is_moved_aside(world):
    """A rerun whose ``model.checkpoint`` changed, without --restart (Snakemake, dvc repro),
    moves the old checkpoints aside and starts from the new checkpoint's weights."""
    root, cfg = world
    c = ["--config", str(cfg), "--dataset", "demo-clevr", "--split", "train"]
    c += ["--set", "train.lr_base=1.0e-5", "--set", "train.max_epoch=1"]
    assert main(["train", *c, "--restart"]) == 0
    run = root / "results" / "demo-clevr" / "train"
    source = root / "start_weights.pt"
    shutil.copy(run / "model.pt", source)
    start = ["--set", f"model.checkpoint={source}", "--set", "train.seed=7"]
    assert main(["train", *c, *start]) == 0
    log = (run / "log.txt").read_text()
    assert "started fresh" in log and f"start: weights of {source}" in log
    second = _weights(run / "model.pt")
    for k, v in _weights(source).items():  # the checkpoint's weights, then one slow epoch
        torch.testing.assert_close(second[k], v, atol=1e-3, rtol=0, msg=k)


def test_run_py_train_then_test(world):
    root, cfg = world
    args = [sys.executable, str(REPO / "run.py"), "--DATASET=demo", "--CONFIG", str(cfg)]
    train = [*args, "--RUN=train", "--MODEL=lsat", "--MAX_EPOCH=1", "--VERSION=smoke", "--GPU=0,1"]
    subprocess.run(train, check=True, capture_output=True, timeout=120)
    res = root / "results"
    assert (res / "ckpts" / "ckpt_smoke" / "epoch1.pkl").is_file()
    log = (res / "log" / "log_run_smoke.txt").read_text()
    assert "epoch   1" in log and "2 process(es)" in log  # --GPU 0,1: DDP (gloo on CPU)
    test = [*args, "--RUN=test", "--CKPT_V=smoke", "--CKPT_E=1"]
    subprocess.run(test, check=True, capture_output=True, timeout=120)
    entries = json.loads((res / "result_test" / "result_run_smoke_1.json").read_text())
    assert entries and {"question_id", "answer"} == set(entries[0])


def test_nproc_two_matches_one_process(world):
    """`--nproc 2` (torchrun, gloo) computes the gradients of one process.

    Adam turns the rounding noise of near-zero gradients (e.g. biases in front of a
    softmax) into ±lr steps, so the weight updates of a real network are compared at a tiny
    learning rate, and the gradients through Adam's moments, which are linear in them.
    """
    root, cfg = world
    c = ["train", "--config", str(cfg), "--dataset", "demo", "--split", "train+val+vg"]
    c += ["--set", "model.options.dropout_r=0", "--set", "train.max_epoch=1"]
    c += ["--set", "train.lr_base=1.0e-6", "--restart"]
    run = root / "results" / "demo" / "train+val+vg"
    assert main(c) == 0
    one = torch.load(run / "checkpoints" / "last.pt", weights_only=False)
    _lsat([*c, "--nproc", "2"])
    two = torch.load(run / "checkpoints" / "last.pt", weights_only=False)
    assert two["world_size"] == 2 and len(two["rng"]) == 2
    # At this learning rate the weights move about 3e-6 in all, below any useful atol on the
    # weights themselves: compare the updates (after - before) of the two runs instead.
    init = _initial_weights(one)
    for k, v in one["state_dict"].items():
        if not v.is_floating_point():
            continue
        d1, d2 = v - init[k], two["state_dict"][k] - init[k]
        assert d1.abs().max() <= 1e-5 and d2.abs().max() <= 1e-5, k  # init is the start
        if k.endswith(SHIFT_INVARIANT):
            continue  # zero gradient in exact arithmetic: Adam's steps are rounding noise
        err = float((d2 - d1).norm() / d1.norm().clamp_min(1e-30))
        assert err < 1e-2, (k, err)  # measured ≤ 2.6e-3; a 1.2× learning rate gives 0.2
    for i, state in one["optimizer"]["state"].items():
        for key in ("exp_avg", "exp_avg_sq"):
            got = two["optimizer"]["state"][i][key]
            torch.testing.assert_close(got, state[key], atol=1e-7, rtol=1e-3)


def test_ddp_interrupt_and_resume(world):
    """Rank 0 is signalled mid-epoch: both ranks stop at the same step and resume exactly.

    The ranks agree on a stop every STOP_CHECK_STEPS steps and at an epoch's last step, so
    the signal after step 2 stops them at the first of those after it.
    """
    root, cfg = world
    c = ["train", "--config", str(cfg), "--dataset", "demo", "--split", "train", "--nproc", "2"]
    c += ["--set", "train.seed=9"]
    run = root / "results" / "demo" / "train"
    proc = _lsat([*c, "--restart"], env={"LSAT_SIGNAL_AFTER_STEPS": "2"}, check=False)
    assert proc.returncode == 143, proc.stderr[-2000:]
    ckpt = torch.load(run / "checkpoints" / "last.pt", weights_only=False)
    assert (ckpt["epoch"], len(ckpt["rng"])) == (0, 2)
    assert 2 < ckpt["step"] <= STOP_CHECK_STEPS
    _lsat(c)
    resumed = _weights(run / "model.pt")
    _lsat([*c, "--restart"])
    twin = _weights(run / "model.pt")
    for k in twin:
        assert torch.equal(resumed[k], twin[k]), k


def test_each_json_input_parsed_once_per_command(world, monkeypatch):
    """`lsat train` (train + val scoring) and `lsat predict` read every JSON file once."""
    import lsat.io

    _root, cfg = world
    parses: list[str] = []
    real_load = lsat.io.json.load

    def counting_load(f, *a, **kw):
        parses.append(Path(f.name).name)
        return real_load(f, *a, **kw)

    monkeypatch.setattr(lsat.io.json, "load", counting_load)
    c = ["--config", str(cfg), "--dataset", "demo", "--split", "train"]
    for command in (["train", *c], ["predict", *c, "--on", "val"], ["predict", *c, "--on", "test"]):
        parses.clear()
        assert main(command) == 0
        repeated = sorted({name for name in parses if parses.count(name) > 1})
        assert parses and not repeated, (command[0], command[-1], parses)
    assert "v2_OpenEnded_mscoco_test2015_questions.json" in parses


def test_analyze_writes_the_routing_figure(world, capsys):
    """`lsat analyze` on a tiny trained TRAR demo run: routing PNG + JSON, attention map."""
    root, cfg = world
    c = ["--config", str(cfg), "--dataset", "demo", "--split", "train"]
    run = root / "results" / "demo" / "train"
    if not (run / "model.pt").is_file():
        assert main(["train", *c]) == 0
    assert main(["analyze", *c, "--examples", "2"]) == 0
    assert "routing.png" in capsys.readouterr().out
    folder = run / "analysis"
    assert (folder / "routing.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    routing = json.loads((folder / "routing.json").read_text())
    assert routing["orders"] == TINY_MODEL["orders"] and len(routing["layers"]) == 1
    types = routing["by_type"]
    assert "how many" in types and sum(t["n"] for t in types.values()) > 0
    for entry in types.values():
        assert abs(sum(entry["mean"][0]) - 1) < 1e-4  # weights over the orders sum to 1
    attention = json.loads((folder / "attention.json").read_text())
    assert len(attention) == 2 and attention[0]["image"].endswith(".png")
    assert abs(sum(attention[0]["attention"]) - 1) < 1e-4
    assert (folder / "attention.png").is_file()
    # The summary page includes the figures.
    if not (run / "val_metrics.json").is_file():
        assert main(["predict", *c, "--on", "val"]) == 0
    page = root / "page.html"
    assert main(["summary", "--config", str(cfg), "--dataset", "demo", "--out", str(page)]) == 0
    html = page.read_text()
    assert "analysis/routing.png" in html and html.count("data:image/png;base64,") >= 2
