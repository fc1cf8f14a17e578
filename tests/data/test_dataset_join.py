"""build_dataset: shapes, soft-target scatter, and every way features can fail to match."""

import numpy as np
import pytest
import torch
import yaml

from lsat.config import dataset_config, load_config
from lsat.data import vqa
from lsat.data.answers import prep_answer, soft_score
from lsat.data.dataset import build_dataset
from lsat.data.demo_files import write_demo
from lsat.features.store import FeatureStore, FeatureWriter
from lsat.data.vocab import build
from lsat.errors import LsatError

GRID, CHANNELS = 4, 6


def write_features(path, image_ids, grid=GRID, channels=CHANNELS, zero_cells=(0,)):
    """A feature file in the documented layout; features encode the image id."""
    ids = sorted(image_ids)
    writer = FeatureWriter(path, ids, grid=grid, channels=channels, backbone="test", source="t")
    feats = np.zeros((len(ids), grid * grid, channels), np.float16)
    for k, i in enumerate(ids):
        feats[k] = i % 1000 + np.arange(grid * grid)[:, None] / 100
        feats[k, list(zero_cells)] = 0  # padding cells must stay exactly zero
    writer.write(range(len(ids)), feats)
    writer.finish()


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("ds")
    write_demo(root / "raw", seed=1, images={"train": 5, "val": 3, "test": 2, "vg": 2},
               questions_per_image=6)  # fmt: skip
    cfg = {
        "results_dir": str(root / "results"),
        "datasets": {
            "d": {"format": "vqa", "raw_dir": str(root / "raw" / "vqa"),
                  "features": {"grid": GRID}, "model": {"options": {"img_feat_size": CHANNELS}},
                  "vocab": {"min_answer_count": 0}},
            "c": {"format": "clevr", "raw_dir": str(root / "raw" / "clevr"),
                  "features": {"grid": GRID}, "model": {"options": {"img_feat_size": CHANNELS}}},
        },
    }  # fmt: skip
    (root / "c.yaml").write_text(yaml.safe_dump(cfg))
    full = load_config(root / "c.yaml")
    d, c = dataset_config(full, "d"), dataset_config(full, "c")
    for ds in (d, c):
        build(ds)
    raw = root / "raw" / "vqa"
    ids = {s: {q.image_id for q in vqa.load_set(raw, s)} for s in ("train", "val", "test", "vg")}
    vg = sorted(ids["vg"])
    # One VG image lives in val2014 (the dataset must search train2014 then val2014).
    write_features(d.paths.features("train2014"), ids["train"] | set(vg[1:]))
    write_features(d.paths.features("val2014"), ids["val"] | {vg[0]})
    write_features(d.paths.features("test2015"), ids["test"])
    for split, n in (("train", 5), ("val", 3), ("test", 2)):
        write_features(c.paths.features(split), range(n))
    return root, d, c


def _build(ds, qsets, **kw):
    return build_dataset(ds, qsets, vocab_path=ds.paths.vocab, answers_path=ds.paths.answers, **kw)


def test_items_have_documented_shapes_and_default_collate_works(world):
    _, d, _ = world
    data = _build(d, ["train", "val", "vg"])
    assert len(data) == (5 + 3 + 2) * 6
    assert data.ques_ix.shape == (len(data), 14) and data.ques_ix.dtype == np.int64
    assert (data.num_cells, data.channels, data.grid) == (GRID * GRID, CHANNELS, GRID)
    item = data[0]
    assert item["img_feat"].shape == (16, CHANNELS) and item["img_feat"].dtype == np.float32
    assert not item["img_feat"][0].any()  # padding cell untouched
    k = data.target_ix.shape[1]
    batch = next(iter(torch.utils.data.DataLoader(data, batch_size=4)))
    assert batch["target_ix"].shape == (4, k) and batch["qid"].dtype == torch.int64
    assert data.feature_bank().shape == (len(set(data.image_row.tolist())), 16, CHANNELS)


def test_image_rows_point_at_each_question_image(world):
    _, d, _ = world
    data = _build(d, ["vg", "test"], residency="ram")
    for i, q in enumerate(data.questions):
        assert data[i]["img_feat"][1, 0] == pytest.approx(q.image_id % 1000 + 0.01, abs=0.01)
    disk = _build(d, ["vg", "test"])
    np.testing.assert_array_equal(disk[3]["img_feat"], data[3]["img_feat"])


@pytest.mark.parametrize("residency", ["disk", "ram"])
def test_read_batch_equals_the_items_it_gathers(world, residency):
    _, d, _ = world
    data = _build(d, ["train", "vg"], residency=residency)  # vg reads two feature files
    order = np.random.default_rng(0).permutation(len(data))[:17]
    batch = data.read_batch(order)
    assert batch["img_feat"].dtype == np.float16 and batch["img_feat"].shape == (17, 16, CHANNELS)
    for pos, i in enumerate(order.tolist()):
        item = data[i]
        np.testing.assert_array_equal(batch["img_feat"][pos].astype(np.float32), item["img_feat"])
        for key in ("ques_ix", "target_ix", "target_score", "qid"):
            np.testing.assert_array_equal(batch[key][pos], item[key])


def test_read_batch_reads_each_image_once_into_the_given_array(world, monkeypatch):
    """Repeated images (and two feature files) in one batch: each distinct image read once,
    in file order, into the caller's array; the same values as the items."""
    _, d, _ = world
    data = _build(d, ["train", "vg"])
    order = np.random.default_rng(1).permutation(len(data))[:20]
    order = np.concatenate([order, order[:6][::-1]])  # the same questions (images) again
    reads: list[list[int]] = []
    real = FeatureStore.read_into

    def counted(store, rows, out, positions):
        reads.append(list(rows))
        real(store, rows, out, positions)

    monkeypatch.setattr(FeatureStore, "read_into", counted)
    out = np.full((len(order), *data.feature_shape), np.nan, np.float16)
    batch = data.read_batch(order, out=out)
    assert batch["img_feat"] is out
    for pos, i in enumerate(order.tolist()):
        np.testing.assert_array_equal(out[pos].astype(np.float32), data[i]["img_feat"])
    flat = [r for rows in reads for r in rows]
    assert len(flat) == len(set(data.image_row[order].tolist()))  # no image read twice
    files = {id(data._bank_index[r][0]) for r in data.image_row[order].tolist()}
    assert all(rows == sorted(rows) for rows in reads) and len(reads) == len(files)


def test_soft_targets_scatter_to_official_scores(world):
    _, d, _ = world
    data = _build(d, ["train"])
    target = torch.zeros(len(data), data.num_answers)
    target.scatter_add_(1, torch.from_numpy(data.target_ix), torch.from_numpy(data.target_score))
    ans_to_ix = {a: i for i, a in enumerate(data.answers)}
    for i, q in enumerate(data.questions):
        expected = np.zeros(data.num_answers, np.float32)
        given = [prep_answer(x) for x in q.answers]
        for a in set(given) & set(ans_to_ix):  # answers outside the dictionary are dropped
            expected[ans_to_ix[a]] = soft_score(given.count(a))
        np.testing.assert_allclose(target[i].numpy(), expected, atol=1e-6)
    test = _build(d, ["test"])
    assert not test.target_score.any()


def test_clevr_targets_are_single_answers(world):
    _, _, c = world
    data = _build(c, ["train", "test"])
    assert data.target_ix.shape == (len(data), 1)
    trained = [i for i, q in enumerate(data.questions) if q.answer is not None]
    assert all(data.answers[data.target_ix[i, 0]] == data.questions[i].answer for i in trained)
    assert data.target_score[trained].min() == 1.0
    assert data.question_ids[0] == data.questions[0].qid


def test_unknown_question_set_lists_valid_ones(world):
    _, d, _ = world
    with pytest.raises(LsatError, match=r"unknown question set 'dev'.*train, val, test, vg"):
        _build(d, ["train", "dev"])


def test_missing_image_features_name_question_image_and_file(world, tmp_path):
    _, d, _ = world
    path = d.paths.features("test2015")
    backup = tmp_path / "test2015.h5"
    path.rename(backup)
    try:
        q = vqa.load_set(d.raw_dir, "test")
        write_features(path, {x.image_id for x in q[1:]} - {q[0].image_id})
        with pytest.raises(
            LsatError,
            match=rf"question id {q[0].qid} \(test\) refers to image id {q[0].image_id}, "
            rf"which has no features in .*test2015\.h5",
        ):
            _build(d, ["test"])
        path.unlink()
        with pytest.raises(LsatError, match=r"feature file not found: .*test2015\.h5"):
            _build(d, ["test"])
    finally:
        path.unlink(missing_ok=True)
        backup.rename(path)


def test_grid_or_channel_mismatch_names_file_and_shapes(world, tmp_path):
    _, d, _ = world
    path = d.paths.features("test2015")
    backup = tmp_path / "test2015.h5"
    path.rename(backup)
    ids = {q.image_id for q in vqa.load_set(d.raw_dir, "test")}
    try:
        write_features(path, ids, grid=8)
        with pytest.raises(
            LsatError, match=r"test2015\.h5 holds features of shape \(64, 6\).*expects \(16, 6\)"
        ):
            _build(d, ["test"])
        path.unlink()
        write_features(path, ids, channels=5)
        with pytest.raises(
            LsatError, match=r"test2015\.h5 holds features of shape \(16, 5\).*expects \(16, 6\)"
        ):
            _build(d, ["test"])
    finally:
        path.unlink(missing_ok=True)
        backup.rename(path)
