"""Where every file of the pipeline lives: the one place that knows the layout.

Raw inputs keep their official names (VQA-v2, Visual Genome as used by MCAN/TRAR, CLEVR
v1.0; each format object of :mod:`lsat.formats` lists its own) so a user can point
``raw_dir`` at an existing download. Derived files live under
``{results_dir}/{dataset}/``. The command line, the Snakemake rules and ``dvc.yaml`` all
use these paths; ``tests/workflow`` checks that they agree.
"""

from __future__ import annotations

from pathlib import Path

from lsat.formats import Format, format_of


def split_parts(fmt: str, split: str) -> list[str]:
    """``'train+val+vg'`` → ``['train', 'val', 'vg']``, checking the name for ``fmt``."""
    return format_of(fmt).split_parts(split)


def question_file(raw_dir: str | Path, fmt: str, qset: str) -> Path:
    """Official question-file path of question set ``qset`` (train, val, test, vg)."""
    return format_of(fmt).question_file(raw_dir, qset)


def annotation_file(raw_dir: str | Path, fmt: str, qset: str) -> Path | None:
    """Official annotation file (VQA format only; CLEVR answers sit in the question file)."""
    return format_of(fmt).annotation_file(raw_dir, qset)


def image_dir(raw_dir: str | Path, fmt: str, image_set: str) -> Path:
    """Folder of the images of ``image_set`` (``images/train2014``, ``images/train``, ...)."""
    return Path(raw_dir) / "images" / format_of(fmt).check_image_set(image_set)


def raw_files(raw_dir: str | Path, fmt: str) -> list[Path]:
    """Every raw JSON file a dataset of this format needs (used to report missing ones)."""
    f = format_of(fmt)
    return f.raw_files(raw_dir, f.question_sets)


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

    def test_results(self, fmt: Format) -> list[Path]:
        """The test result file, and its plain-text copy where the format has one."""
        return [self.result_test, *([self.result_test_clevr_txt] if fmt.text_result else [])]
