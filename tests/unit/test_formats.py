"""The format objects: official file names, sets, splits, and the one place per layer
that acts on a format (no name comparisons scattered through the code)."""

import re
from pathlib import Path

import pytest

from lsat import paths as lp
from lsat.errors import LsatError
from lsat.formats import CLEVR, FORMATS, VQA, breakdown, format_of

ROOT = Path(__file__).resolve().parents[2]


def test_official_raw_names():
    raw = Path("/raw")
    assert VQA.question_file(raw, "val") == raw / "v2_OpenEnded_mscoco_val2014_questions.json"
    assert VQA.question_file(raw, "vg") == raw / "VG_questions.json"
    assert VQA.annotation_file(raw, "train") == raw / "v2_mscoco_train2014_annotations.json"
    assert VQA.annotation_file(raw, "vg") == raw / "VG_annotations.json"
    assert VQA.annotation_file(raw, "test") is None
    assert CLEVR.question_file(raw, "test") == raw / "questions/CLEVR_test_questions.json"
    assert all(CLEVR.annotation_file(raw, q) is None for q in CLEVR.question_sets)
    assert lp.raw_files(raw, "clevr") == [
        CLEVR.question_file(raw, q) for q in ["train", "val", "test"]
    ]


def test_image_sets_and_feature_search():
    assert VQA.image_sets == ("train2014", "val2014", "test2015")
    assert CLEVR.image_sets == ("train", "val", "test")
    assert VQA.image_set("test") == "test2015"
    assert VQA.fit_image_sets == ("train2014", "val2014")
    assert VQA.feature_sets("vg") == ("train2014", "val2014")  # VG asks COCO train, then val
    assert CLEVR.feature_sets("val") == ("val",)
    with pytest.raises(LsatError, match="has no image set of its own"):
        VQA.image_set("vg")


def test_names_checked_with_the_expected_values():
    with pytest.raises(LsatError, match="unknown dataset format 'gqa': expected one of vqa, clevr"):
        format_of("gqa")
    with pytest.raises(LsatError, match="unknown split 'train\\+val\\+vg' for the clevr format"):
        CLEVR.split_parts("train+val+vg")
    with pytest.raises(LsatError, match="unknown question set 'vg' for the clevr format"):
        CLEVR.question_file("/raw", "vg")
    with pytest.raises(LsatError, match="unknown image set 'val2014' for the clevr format"):
        lp.image_dir("/raw", "clevr", "val2014")
    assert format_of(VQA) is VQA and format_of("clevr") is CLEVR
    assert VQA.split_parts("train+val+vg") == ["train", "val", "vg"]


def test_breakdown_of_either_metrics_file():
    assert breakdown({"overall": 50.0, "perAnswerType": {"yes/no": 70.0}}) == {"yes/no": 70.0}
    assert breakdown({"overall": 50.0, "perCategory": {"Count": 40.0}}) == {"Count": 40.0}
    assert breakdown({"overall": 50.0}) == {}
    assert {f.breakdown for f in FORMATS.values()} == {"perAnswerType", "perCategory"}


def test_format_names_are_compared_in_at_most_four_places():
    """Code asks the format object; a new `== "vqa"` switch belongs in lsat.formats."""
    pattern = re.compile(r'[!=]= ?"(clevr|vqa)"')
    files = [*(ROOT / "src").rglob("*.py"), *(ROOT / "workflow").rglob("*.smk")]
    files += [ROOT / "Snakefile", ROOT / "run.py"]
    hits = [
        f"{f.relative_to(ROOT)}:{n}"
        for f in files
        for n, line in enumerate(f.read_text(encoding="utf-8").splitlines(), 1)
        if pattern.search(line)
    ]
    assert len(hits) <= 4, hits


def test_needed_question_sets_and_their_raw_files():
    assert VQA.needed_qsets(["train", "train+val"]) == ["train", "val", "test"]
    assert VQA.needed_qsets(["train+val+vg"]) == ["train", "val", "test", "vg"]
    assert CLEVR.needed_qsets(["train+val"]) == ["train", "val", "test"]
    raw = Path("/raw")
    assert VQA.raw_files(raw, ["test", "vg"]) == [
        raw / "v2_OpenEnded_mscoco_test2015_questions.json",
        raw / "VG_questions.json",
        raw / "VG_annotations.json",
    ]
    assert VQA.described_raw_files(raw, ["val"]) == [
        (raw / "v2_OpenEnded_mscoco_val2014_questions.json", "VQA-v2 val questions"),
        (raw / "v2_mscoco_val2014_annotations.json", "VQA-v2 val annotations"),
    ]
    with pytest.raises(LsatError, match=r"CLEVR v1\.0 question set 'val' has no annotation file"):
        CLEVR.annotations_of(raw, "val")
