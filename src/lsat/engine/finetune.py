"""The fine-tune stage: the maintainers' recipe for the test-dev number.

TRAR's maintainers reach 72.0 on test-dev by training on ``train+val+vg``, taking the
epoch-10 checkpoint and continuing 2–3 epochs on ``train+val``. In openvqa that is a resume
(``--RESUME --CKPT_E 10`` with another ``--SPLIT``): the weights and the Adam state of the
source epoch, the epoch counter continues from there, the learning rate is the one the
source had reached, and the decay points of the schedule are kept (at 10 and 12 for VQA).
The dataset's ``finetune: {from_split, from_epoch, split, epochs}`` says the same here; the
run is ``lsat train --split finetune`` and lives in ``results/<dataset>/finetune/``.

Because the schedule is a function of the epoch alone (:mod:`lsat.engine.schedule`),
continuing at ``from_epoch`` with the dataset's ``train`` settings gives exactly the
source's learning-rate state there; ``max_epoch`` becomes ``from_epoch + epochs``.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from lsat.config import DatasetConfig
from lsat.engine.layout import RunLayout
from lsat.errors import LsatError
from lsat.paths import split_parts

FINETUNE = "finetune"


def is_finetune(split: str) -> bool:
    return split == FINETUNE


def settings_of(ds: DatasetConfig) -> dict[str, Any]:
    """The dataset's ``finetune`` block, or one error saying how to set it."""
    ft = getattr(ds, "finetune", None)
    if not ft:
        raise LsatError(
            f"dataset {ds.name!r} has no finetune settings: set datasets.{ds.name}.finetune: "
            "{from_split, from_epoch, split, epochs} (e.g. train+val+vg, 10, train+val, 3)"
        )
    return ft


def run_parts(ds: DatasetConfig, split: str) -> list[str]:
    """Question sets a run trains on: those of ``split``, or of the fine-tune's split."""
    if is_finetune(split):
        return split_parts(ds.format, settings_of(ds)["split"])
    return split_parts(ds.format, split)


def finetune_config(ds: DatasetConfig) -> tuple[DatasetConfig, str, Path, int]:
    """(dataset config with max_epoch = from_epoch + epochs, data split, source checkpoint,
    source epoch), checking the source exists."""
    ft = settings_of(ds)
    epoch = int(ft["from_epoch"])
    source = RunLayout.for_split(ds.paths, ft["from_split"]).checkpoint(epoch)
    if not source.is_file():
        raise LsatError(
            f"fine-tune source {source} not found: train split {ft['from_split']!r} for at "
            f"least {epoch} epochs first (its checkpoints/epoch{epoch}.pt)"
        )
    train = dataclasses.replace(ds.train, max_epoch=epoch + int(ft["epochs"]))
    out = dataclasses.replace(ds, train=train)
    return out, ft["split"], source, epoch


def start_note(source: Path, epoch: int, ds: DatasetConfig) -> str:
    ft = settings_of(ds)
    return (
        f"start: fine-tune from {source} (epoch {epoch} of {ft['from_split']}): its weights "
        f"and Adam state, epochs {epoch + 1}..{epoch + int(ft['epochs'])} on {ft['split']} "
        "with the source's learning-rate state and decay points"
    )
