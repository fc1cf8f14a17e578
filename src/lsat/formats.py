"""What a dataset format is: one object per format (VQA-v2, CLEVR v1.0).

Every difference between the two formats that the pipeline acts on is a field of
:class:`Format`: its question sets and the image set each one's images belong to, its
training splits, the official raw file names, what one question's answer looks like (ten
human answers in separate annotation files, or one exact answer in the question file),
the key of the metric's breakdown, and the extra plain-text result file. Code asks the
dataset's format (``ds.fmt``) instead of comparing its name, so adding a format means
adding one object here. This module imports nothing of the pipeline: every layer may use
it, and each layer keeps the code that acts on it (readers in :mod:`lsat.data.readers`,
scoring in :mod:`lsat.engine.evaluation`).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lsat.errors import LsatError


@dataclass(frozen=True, eq=False)  # one object per format: compared by identity
class Format:
    """One dataset format: its layout on disk, its splits and the shape of its answers."""

    name: str
    label: str
    # Logical question sets → the image set their images belong to (None: VG questions
    # refer to COCO train and val images, so they have no image set of their own).
    question_sets: Mapping[str, str | None]
    splits: tuple[str, ...]
    # Official raw file names, relative to the dataset's raw_dir, per question set.
    question_names: Mapping[str, str]
    annotation_names: Mapping[str, str]
    # True: one exact answer per question inside the question file (CLEVR): hard targets,
    # exact-match accuracy, every seen answer in the answer list. False: ten human answers
    # per question in annotation files (VQA): soft targets, the consensus metric, frequent
    # answers only.
    one_answer: bool
    breakdown: str  # the metrics' per-type key: perAnswerType, perCategory
    max_token: int | None  # question length; None: the longest question
    text_result: bool  # the test result also as one answer per line (CLEVR's format)
    # Results are uploaded to EvalAI, whose test2015 holds the test-dev phase: a full
    # submission must cover every test2015 question (lsat.engine.results).
    evalai: bool
    # The papers' training recipe (docs/sources.md): the values of train keys left null.
    paper_train: Mapping[str, Any]
    # What the papers used, to list a run's differences (None: nothing to compare).
    paper_eval_version: str | None = None
    paper_backend: str | None = None
    image_sets: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        sets = tuple(dict.fromkeys(s for s in self.question_sets.values() if s))
        object.__setattr__(self, "image_sets", sets)

    def __str__(self) -> str:
        return self.name

    def image_set(self, qset: str) -> str:
        """The image set of question set ``qset`` (``val`` → ``val2014``)."""
        image_set = self.question_sets[self.check_qset(qset)]
        if image_set is None:
            raise LsatError(f"{self.name} question set {qset!r} has no image set of its own")
        return image_set

    @property
    def fit_image_sets(self) -> tuple[str, ...]:
        """Image sets training reads: train and val (val is trained on or validated against)."""
        return self.image_set("train"), self.image_set("val")

    def feature_sets(self, qset: str) -> tuple[str, ...]:
        """Feature files holding the images of ``qset``, in search order (VG: train, val)."""
        image_set = self.question_sets[self.check_qset(qset)]
        return (image_set,) if image_set else self.fit_image_sets

    def check_qset(self, qset: str) -> str:
        return self._one_of("question set", qset, self.question_sets)

    def check_image_set(self, image_set: str) -> str:
        return self._one_of("image set", image_set, self.image_sets)

    def _one_of(self, kind: str, value: str, known: Collection[str]) -> str:
        if value not in known:
            raise LsatError(
                f"unknown {kind} {value!r} for the {self.name} format: expected one of "
                f"{', '.join(known)}"
            )
        return value

    def split_parts(self, split: str) -> list[str]:
        """``'train+val+vg'`` → ``['train', 'val', 'vg']``, checking the name."""
        if split not in self.splits:
            raise LsatError(
                f"unknown split {split!r} for the {self.name} format: expected one of "
                f"{', '.join(self.splits)}"
            )
        return split.split("+")

    def question_file(self, raw_dir: str | Path, qset: str) -> Path:
        """Official question file of question set ``qset``."""
        return Path(raw_dir) / self.question_names[self.check_qset(qset)]

    def annotation_file(self, raw_dir: str | Path, qset: str) -> Path | None:
        """Official annotation file of ``qset``; None where the set has none (test, CLEVR)."""
        name = self.annotation_names.get(self.check_qset(qset))
        return Path(raw_dir) / name if name else None

    def needed_qsets(self, splits: Iterable[str]) -> list[str]:
        """Question sets a dataset training ``splits`` reads in all: those with an image
        set (train, val, test), and the others (VG) only when a split trains on them."""
        used = {part for split in splits for part in self.split_parts(split)}
        return [q for q, s in self.question_sets.items() if s is not None or q in used]

    def raw_files(self, raw_dir: str | Path, qsets: Iterable[str]) -> list[Path]:
        """The official question and annotation files of ``qsets``, in that order."""
        return [path for path, _ in self.described_raw_files(raw_dir, qsets)]

    def described_raw_files(
        self, raw_dir: str | Path, qsets: Iterable[str]
    ) -> list[tuple[Path, str]]:
        """(file, what it is) of :meth:`raw_files`, for the list of missing inputs."""
        files = []
        for qset in qsets:
            files.append((self.question_file(raw_dir, qset), f"{self.label} {qset} questions"))
            ann = self.annotation_file(raw_dir, qset)
            if ann is not None:
                files.append((ann, f"{self.label} {qset} annotations"))
        return files

    def annotations_of(self, raw_dir: str | Path, qset: str) -> Path:
        """The annotation file of a question set that must have one (VQA train, val, vg)."""
        path = self.annotation_file(raw_dir, qset)
        if path is None:
            raise LsatError(
                f"the {self.label} question set {qset!r} has no annotation file: expected "
                f"{', '.join(self.annotation_names) or 'none (answers are in the questions)'}"
            )
        return path


VQA = Format(
    name="vqa",
    label="VQA-v2",
    question_sets={"train": "train2014", "val": "val2014", "test": "test2015", "vg": None},
    splits=("train", "train+val", "train+val+vg"),
    question_names={
        "train": "v2_OpenEnded_mscoco_train2014_questions.json",
        "val": "v2_OpenEnded_mscoco_val2014_questions.json",
        "test": "v2_OpenEnded_mscoco_test2015_questions.json",
        "vg": "VG_questions.json",
    },
    annotation_names={
        "train": "v2_mscoco_train2014_annotations.json",
        "val": "v2_mscoco_val2014_annotations.json",
        "vg": "VG_annotations.json",
    },
    one_answer=False,
    breakdown="perAnswerType",
    max_token=14,  # openvqa's MAX_TOKEN for VQA
    text_result=False,
    evalai=True,
    paper_train={
        "batch_size": 64,
        "grad_accu_steps": 1,
        "max_epoch": 13,
        "lr_base": 1e-4,
        "lr_decay_list": [10, 12],
        "loss": "bce",
    },
    paper_eval_version="legacy",
    paper_backend="npy",
)
CLEVR = Format(
    name="clevr",
    label="CLEVR v1.0",
    question_sets={"train": "train", "val": "val", "test": "test"},
    splits=("train", "train+val"),
    question_names={s: f"questions/CLEVR_{s}_questions.json" for s in ("train", "val", "test")},
    annotation_names={},
    one_answer=True,
    breakdown="perCategory",
    max_token=None,
    text_result=True,
    evalai=False,
    paper_train={
        "batch_size": 64,
        "grad_accu_steps": 2,
        "max_epoch": 16,
        "lr_base": 4e-5,
        "lr_decay_list": [13, 15],
        "loss": "ce",
    },
)
FORMATS: dict[str, Format] = {f.name: f for f in (VQA, CLEVR)}


def format_of(name: str | Format) -> Format:
    """The format called ``name`` (the config's ``format``, ``lsat evaluate --format``)."""
    if isinstance(name, Format):
        return name
    if name not in FORMATS:
        raise LsatError(f"unknown dataset format {name!r}: expected one of {', '.join(FORMATS)}")
    return FORMATS[name]


def breakdown(metrics: Mapping[str, Any]) -> dict[str, Any]:
    """The per-type accuracies of a metrics dict of either format ({} when it has none)."""
    for fmt in FORMATS.values():
        if metrics.get(fmt.breakdown):
            return dict(metrics[fmt.breakdown])
    return {}
