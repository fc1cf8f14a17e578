"""The demo world: byte-identical reruns, both official layouts readable, sound answers."""

import collections
import json
import random
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

import lsat.data.demo_files as demo_files
from lsat.cli import main
from lsat.data import clevr, vqa
from lsat.data.answers import answer_counts, prep_answer
from lsat.data.demo import BACKGROUND, make_questions, make_scene
from lsat.data.demo_files import write_demo
from lsat.data.tokens import tokenize
from lsat.errors import LsatError
from lsat.features.backends import PixelsBackend
from lsat.paths import image_dir

SIZES = {"train": 12, "val": 6, "test": 4, "vg": 4}


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    write_demo(out, seed=3, images=SIZES, questions_per_image=10)
    return out


def _tree(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def test_same_seed_gives_byte_identical_files(demo, tmp_path):
    assert main(["demo-data", "--out", str(tmp_path), "--seed", "3", "--train-images", "12",
                 "--val-images", "6", "--test-images", "4", "--vg-images", "4"]) == 0  # fmt: skip
    assert _tree(tmp_path) == _tree(demo)
    other = tmp_path / "other"
    write_demo(other, seed=4, images=SIZES)
    assert _tree(other) != _tree(demo)


def test_render_threads_do_not_change_the_files(tmp_path, monkeypatch):
    """Images rendered on one thread or on four are the same bytes in the same files."""
    trees = []
    for threads in (1, 4):
        monkeypatch.setattr(demo_files, "RENDER_THREADS", threads)
        write_demo(tmp_path / str(threads), seed=3, images=SIZES, questions_per_image=10)
        trees.append(_tree(tmp_path / str(threads)))
    assert trees[0] == trees[1]


def test_pngs_carry_no_metadata(demo):
    png = next((demo / "vqa" / "images" / "train2014").glob("*.png"))
    data = png.read_bytes()
    for chunk in (b"tIME", b"tEXt", b"iTXt", b"zTXt"):
        assert chunk not in data
    img = Image.open(png)
    assert img.size == (128, 128) and img.mode == "RGB"
    # The slot layout leaves a background margin at every corner (mid-grey, never black).
    assert img.getpixel((0, 0)) == img.getpixel((127, 127)) == BACKGROUND


def test_vqa_layout_parses_and_answers_are_sound(demo):
    raw = demo / "vqa"
    sets = {s: vqa.load_set(raw, s) for s in ("train", "val", "test", "vg")}
    assert {s: len(q) for s, q in sets.items()} == {s: 10 * n for s, n in SIZES.items()}
    assert all(q.answer is None for q in sets["test"])
    assert not (raw / "v2_mscoco_test2015_annotations.json").exists()
    scores = collections.Counter()
    for q in sets["train"] + sets["val"] + sets["vg"]:
        counts = answer_counts(q.answers)
        assert len(q.answers) == 10
        right = counts[prep_answer(q.answer)]
        assert right >= 4 and all(c <= 3 for a, c in counts.items() if a != q.answer)
        scores.update(min(c, 4) for a, c in counts.items() if a != q.answer)
    assert {1, 2, 3} <= set(scores)  # soft scores 0.3, 0.6 and 0.9 all occur
    types = collections.Counter(q.answer_type for q in sets["train"])
    assert set(types) == {"yes/no", "number", "other"}


def test_images_exist_and_vg_has_images_of_its_own(demo):
    raw = demo / "vqa"
    train_ids = {q.image_id for q in vqa.load_set(raw, "train")}
    vg_ids = {q.image_id for q in vqa.load_set(raw, "vg")}
    assert not train_ids & vg_ids
    for ids, image_set in ((train_ids | vg_ids, "train2014"),):
        folder = image_dir(raw, "vqa", image_set)
        assert {int(p.stem.split("_")[-1]) for p in folder.glob("*.png")} == ids
    test_ids = {q.image_id for q in vqa.load_set(raw, "test")}
    assert (image_dir(raw, "vqa", "test2015") / f"COCO_test2015_{min(test_ids):012d}.png").is_file()


def test_clevr_layout_parses_with_every_category(demo):
    raw = demo / "clevr"
    train = clevr.load_set(raw, "train")
    assert len(train) == 10 * SIZES["train"]
    assert {q.category for q in train} == set(clevr.CATEGORIES)
    test = clevr.load_set(raw, "test")
    assert all(q.answer is None and q.category is None for q in test)
    data = json.loads((raw / "questions" / "CLEVR_val_questions.json").read_text())
    assert data["info"]["split"] == "val"
    first = data["questions"][0]
    assert (raw / "images" / "val" / first["image_filename"]).is_file()
    # Both layouts hold the same scenes.
    vqa_first = sorted((demo / "vqa" / "images" / "val2014").glob("*.png"))[0]
    assert (raw / "images" / "val" / "CLEVR_val_000000.png").read_bytes() == vqa_first.read_bytes()


def test_question_families_and_yes_no_are_balanced(tmp_path):
    write_demo(tmp_path, seed=0, images={"train": 150, "val": 1, "test": 1, "vg": 1})
    qs = clevr.load_set(tmp_path / "clevr", "train")
    data = json.loads((tmp_path / "clevr" / "questions" / "CLEVR_train_questions.json").read_text())
    # question_family_index: 0-1 exist, 2-4 count, 5-7 query, 8-11 relation, 12-15 compare
    family = np.digitize([q["question_family_index"] for q in data["questions"]], [2, 5, 8, 12])
    shares = np.bincount(family, minlength=5) / len(qs)
    assert np.all(np.abs(shares - 0.2) < 0.03), shares
    answers = collections.Counter(q.answer for q in qs)
    assert abs(answers["yes"] - answers["no"]) < 0.15 * (answers["yes"] + answers["no"])
    # Every answer of the small vocabulary is used.
    assert len(answers) >= 18


def test_refuses_to_replace_a_folder_it_did_not_write(tmp_path):
    (tmp_path / "clevr" / "images" / "train").mkdir(parents=True)  # empty folders are fine
    (tmp_path / "vqa" / "images").mkdir(parents=True)
    write_demo(tmp_path, images={"train": 1, "val": 1, "test": 1, "vg": 1})
    assert (tmp_path / "clevr" / "images" / "train" / "CLEVR_train_000000.png").is_file()
    other = tmp_path / "other"
    (other / "vqa" / "sub").mkdir(parents=True)
    (other / "vqa" / "sub" / "precious.json").write_text("{}")
    with pytest.raises(LsatError, match=r"vqa exists and was not written by lsat demo-data"):
        write_demo(other, images={"train": 1, "val": 1, "test": 1, "vg": 1})


@pytest.mark.parametrize("grid", [4, 8])
def test_image_pixels_are_never_all_zero(demo, grid):
    """No cell of a demo image's pixels features is all zero, which the models take for padding.

    The background is plain mid-grey and the backbone centres values on mid-grey, so this
    fails as soon as a background cell maps exactly to 0 (a raw RGB value was always > 0).
    """
    backend = PixelsBackend(grid=grid)
    paths = sorted((demo / "clevr" / "images" / "train").glob("*.png"))[:4]
    feats = backend.compute([backend.read(p) for p in paths], paths)
    assert feats.shape == (len(paths), grid * grid, 3 * 8 * 8)
    assert (np.abs(feats.astype(np.float32)).sum(-1) > 0).all()


def test_demo_max_token_is_the_longest_demo_question():
    """The demo config's ``vocab.max_token`` fits every template exactly: no question is
    truncated, and no step pads every question (the longest-worded scenes are all drawn)."""
    config = yaml.safe_load((Path(__file__).parents[2] / "config" / "config.yaml").read_text())
    rng = random.Random(0)
    longest = max(
        len(tokenize(q.question))
        for _ in range(3000)
        for q in make_questions(make_scene(rng), rng, 10)
    )
    assert config["datasets"]["demo"]["vocab"]["max_token"] == longest
