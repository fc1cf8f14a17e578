"""Where one training run keeps its files (``lsat train`` and run.py name them differently)."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from lsat.paths import ResultPaths


@dataclass(frozen=True)
class RunLayout:
    """The files of one run: checkpoints, final model, metrics, log and curves."""

    checkpoint_dir: Path
    final_model: Path
    metrics: Path
    log: Path
    curves: Path
    ckpt_suffix: str = ".pt"

    @classmethod
    def for_split(cls, paths: ResultPaths, split: str, run: str = "") -> RunLayout:
        """The conventional layout ``results/{dataset}/{split}[/{run}]/`` of ``lsat train``."""
        return cls(
            checkpoint_dir=paths.checkpoint_dir(split, run),
            final_model=paths.final_model(split, run),
            metrics=paths.train_metrics(split, run),
            log=paths.train_log(split, run),
            curves=paths.curves(split, run),
        )

    @classmethod
    def openvqa(cls, results_dir: str | Path, version: str) -> RunLayout:
        """run.py's openvqa layout: ``ckpts/ckpt_<V>/epoch<E>.pkl``, ``log/log_run_<V>.txt``."""
        root = Path(results_dir)
        ckpts = root / "ckpts" / f"ckpt_{version}"
        return cls(
            checkpoint_dir=ckpts,
            final_model=ckpts / "model.pkl",
            metrics=root / "log" / f"metrics_run_{version}.json",
            log=root / "log" / f"log_run_{version}.txt",
            curves=root / "log" / f"curves_run_{version}.png",
            ckpt_suffix=".pkl",
        )

    def checkpoint(self, epoch: int) -> Path:
        """Checkpoint written after ``epoch`` (1-based, as the official ``epoch13.pkl``)."""
        return self.checkpoint_dir / f"epoch{epoch}{self.ckpt_suffix}"

    @property
    def lock(self) -> Path:
        """The run's one-writer lock (:mod:`lsat.engine.runlock`), beside the checkpoints so
        that moving a stale checkpoint folder aside keeps it."""
        return self.checkpoint_dir.with_name(f".{self.checkpoint_dir.name}.lock")

    @property
    def epochs_tsv(self) -> Path:
        """Per-epoch metrics as TSV beside ``metrics.json`` (``metrics.tsv``)."""
        return self.metrics.with_suffix(".tsv")

    @property
    def last(self) -> Path:
        """The newest checkpoint (end of an epoch or an interrupt): what a resume reads."""
        return self.checkpoint_dir / f"last{self.ckpt_suffix}"


def link_atomic(src: Path, dst: Path) -> None:
    """Make ``dst`` the same file as ``src`` (hard link, else copy), replacing it atomically."""
    tmp = dst.with_name(f".{dst.name}.link.tmp")
    if tmp.exists():
        tmp.unlink()
    try:
        os.link(src, tmp)
    except OSError:
        shutil.copyfile(src, tmp)
    os.replace(tmp, dst)
