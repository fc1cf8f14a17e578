"""Where every file of the pipeline lives: the one place that knows the layout.

Raw inputs keep their official names (VQA-v2, Visual Genome as used by MCAN/TRAR, CLEVR
v1.0) so a user can point ``raw_dir`` at an existing download. Derived files live under
``{results_dir}/{dataset}/``. The command line, the Snakemake rules and ``dvc.yaml`` all
use these paths; ``tests/workflow`` checks that they agree.
"""

from __future__ import annotations

from pathlib import Path

from lsat.errors import LsatError

FORMATS = ("vqa", "clevr")

# Logical question sets and the image set each one's images belong to. VG questions refer
# to COCO train/val images, so they have no image set of their own.
QUESTION_SETS: dict[str, dict[str, str | None]] = {
    "vqa": {"train": "train2014", "val": "val2014", "test": "test2015", "vg": None},
    "clevr": {"train": "train", "val": "val", "test": "test"},
}
IMAGE_SETS: dict[str, tuple[str, ...]] = {
    "vqa": ("train2014", "val2014", "test2015"),
    "clevr": ("train", "val", "test"),
}
TRAINING_SPLITS: dict[str, tuple[str, ...]] = {
    "vqa": ("train", "train+val", "train+val+vg"),
    "clevr": ("train", "train+val"),
}


def check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise LsatError(f"unknown dataset format {fmt!r}: expected one of {', '.join(FORMATS)}")
    return fmt


def split_parts(fmt: str, split: str) -> list[str]:
    """``'train+val+vg'`` → ``['train', 'val', 'vg']``, checking the name for ``fmt``."""
    check_format(fmt)
    if split not in TRAINING_SPLITS[fmt]:
        raise LsatError(
            f"unknown split {split!r} for the {fmt} format: expected one of "
            f"{', '.join(TRAINING_SPLITS[fmt])}"
        )
    return split.split("+")


def question_file(raw_dir: str | Path, fmt: str, qset: str) -> Path:
    """Official question-file path of question set ``qset`` (train, val, test, vg)."""
    raw = Path(raw_dir)
    _check_qset(fmt, qset)
    if fmt == "vqa":
        if qset == "vg":
            return raw / "VG_questions.json"
        return raw / f"v2_OpenEnded_mscoco_{QUESTION_SETS['vqa'][qset]}_questions.json"
    return raw / "questions" / f"CLEVR_{qset}_questions.json"


def annotation_file(raw_dir: str | Path, fmt: str, qset: str) -> Path | None:
    """Official annotation file (VQA format only; CLEVR answers sit in the question file)."""
    _check_qset(fmt, qset)
    if fmt == "clevr" or qset == "test":
        return None
    return vqa_annotation_file(raw_dir, qset)


def vqa_annotation_file(raw_dir: str | Path, qset: str) -> Path:
    """Official annotation file of a VQA question set that has one (train, val, vg)."""
    if qset not in ("train", "val", "vg"):
        raise LsatError(
            f"the VQA question set {qset!r} has no annotation file: expected train, val or vg"
        )
    raw = Path(raw_dir)
    if qset == "vg":
        return raw / "VG_annotations.json"
    return raw / f"v2_mscoco_{QUESTION_SETS['vqa'][qset]}_annotations.json"


def image_dir(raw_dir: str | Path, fmt: str, image_set: str) -> Path:
    """Folder of the images of ``image_set`` (``images/train2014``, ``images/train``, ...)."""
    check_format(fmt)
    if image_set not in IMAGE_SETS[fmt]:
        raise LsatError(
            f"unknown image set {image_set!r} for the {fmt} format: expected one of "
            f"{', '.join(IMAGE_SETS[fmt])}"
        )
    return Path(raw_dir) / "images" / image_set


def raw_files(raw_dir: str | Path, fmt: str) -> list[Path]:
    """Every raw JSON file a dataset of this format needs (used to report missing ones)."""
    files = []
    for qset in QUESTION_SETS[check_format(fmt)]:
        files.append(question_file(raw_dir, fmt, qset))
        ann = annotation_file(raw_dir, fmt, qset)
        if ann is not None:
            files.append(ann)
    return files


class ResultPaths:
    """Derived files of one dataset under ``{results_dir}/{dataset}``."""

    def __init__(self, results_dir: str | Path, dataset: str):
        self.root = Path(results_dir) / dataset

    def features(self, image_set: str) -> Path:
        return self.root / "features" / f"{image_set}.h5"

    @property
    def vocab(self) -> Path:
        return self.root / "vocab" / "vocab.json"

    @property
    def answers(self) -> Path:
        return self.root / "vocab" / "answers.json"

    def run_dir(self, split: str, run: str = "") -> Path:
        """``{split}/`` for the single run of a split, ``{split}/{run}/`` for a seed or sweep
        run (``seed2``, ``model.name=mcan/seed2``; see :mod:`lsat.runs`)."""
        return self.root / split / run if run else self.root / split

    def checkpoint_dir(self, split: str, run: str = "") -> Path:
        return self.run_dir(split, run) / "checkpoints"

    def final_model(self, split: str, run: str = "") -> Path:
        return self.run_dir(split, run) / "model.pt"

    def train_metrics(self, split: str, run: str = "") -> Path:
        return self.run_dir(split, run) / "metrics.json"

    def train_epochs(self, split: str, run: str = "") -> Path:
        """Per-epoch metrics as TSV (what `dvc plots` reads)."""
        return self.run_dir(split, run) / "metrics.tsv"

    def train_log(self, split: str, run: str = "") -> Path:
        return self.run_dir(split, run) / "log.txt"

    def curves(self, split: str, run: str = "") -> Path:
        return self.run_dir(split, run) / "curves.png"

    def val_predictions(self, split: str, run: str = "") -> Path:
        return self.run_dir(split, run) / "val_predictions.json"

    def val_metrics(self, split: str, run: str = "") -> Path:
        return self.run_dir(split, run) / "val_metrics.json"

    @property
    def result_test(self) -> Path:
        return self.root / "result_test.json"

    @property
    def result_test_clevr_txt(self) -> Path:
        return self.root / "result_test.txt"


def _check_qset(fmt: str, qset: str) -> None:
    check_format(fmt)
    if qset not in QUESTION_SETS[fmt]:
        raise LsatError(
            f"unknown question set {qset!r} for the {fmt} format: expected one of "
            f"{', '.join(QUESTION_SETS[fmt])}"
        )
