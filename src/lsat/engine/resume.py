"""Which checkpoint a run continues: the resume policy, kept out of the training loop.

The trainer only knows how to restore a state (:meth:`lsat.engine.trainer.Trainer.load_state_dict`).
What to restore is decided here, before: ``--restart`` drops ``last``; a damaged ``last``
falls back on the newest intact epoch checkpoint; a checkpoint of other settings is continued
when only ``max_epoch`` grew (:func:`lsat.engine.checkpoint.extension`), refused under
``--resume``, and otherwise (the automatic resume of a rerun after a config change) its folder
is moved aside, never deleted, and the run starts fresh.
"""

from __future__ import annotations

import enum
import shutil
import sys
from pathlib import Path
from typing import Any

from lsat.engine import checkpoint as ckpt_io
from lsat.engine.distributed import DistEnv, barrier
from lsat.engine.layout import RunLayout
from lsat.errors import LsatError
from lsat.models.official import check_lists


class ResumeMode(enum.Enum):
    """How a run treats ``checkpoints/last.pt`` (``lsat train``: no flag, --resume, --restart)."""

    AUTO = "auto"  # continue it when there is one; one of other settings is moved aside
    REQUIRE = "require"  # continue it; none, or one of other settings, is an error
    RESTART = "restart"  # remove it and start fresh


def check_mode(layout: RunLayout, mode: ResumeMode) -> None:
    """Refuse ``--resume`` without a checkpoint (before minutes of data loading)."""
    if mode is ResumeMode.REQUIRE and not layout.last.is_file():
        raise LsatError(f"--resume: no checkpoint to resume from at {layout.last}")


def resumable_state(
    layout: RunLayout,
    settings: dict[str, Any],
    model_meta: dict[str, Any],
    env: DistEnv,
    mode: ResumeMode,
) -> tuple[dict[str, Any] | None, list[str]]:
    """(the checkpoint this run continues, or None to start fresh; log lines saying so).

    The lines follow the restored log: where the run resumed, an extension of ``max_epoch``
    and a fallback from a damaged ``last``; or, when the checkpoint was moved aside, where to.
    """
    check_mode(layout, mode)
    if mode is ResumeMode.RESTART:
        if env.is_main and layout.last.is_file():
            layout.last.unlink()
        return None, []
    if not layout.last.is_file():
        return None, []
    path, ck, fallback = intact_checkpoint(layout)
    if fallback and env.is_main:
        print(f"lsat train: warning: {fallback}", file=sys.stderr)
    if model_meta.get("vocab") and model_meta.get("answers"):
        meta = ck.get("model_meta") or {}
        check_lists(meta, model_meta["vocab"], model_meta["answers"], path)
    extended = None
    if ck.get("settings_hash") != ckpt_io.settings_hash(settings):
        extended = ckpt_io.extension(ck.get("settings"), settings, ck)
        if extended is None:
            return None, [_set_aside(layout, path, ck, env, strict=mode is ResumeMode.REQUIRE)]
    step = int(ck["step"])
    where = f"epoch {int(ck['epoch'])}" + (f", step {step}" if step else "")
    notes = [f"resumed from {path} ({where})", extended, fallback and f"warning: {fallback}"]
    return ck, [n for n in notes if n]


def _set_aside(
    layout: RunLayout, path: Path, ck: dict[str, Any], env: DistEnv, strict: bool
) -> str:
    """A checkpoint of other settings: an error under ``strict``, else its folder is
    renamed to ``checkpoints.<its settings hash>`` (not deleted); returns the log line."""
    folder = layout.checkpoint_dir
    if strict:
        raise LsatError(
            f"checkpoint {path} was written with different settings than this run "
            f"(model/train config changed); delete {folder} or "
            "pass --restart to start over"
        )
    aside = folder.with_name(f"{folder.name}.{ck.get('settings_hash', 'old')}")
    barrier(env)  # every rank has read the checkpoint before it moves
    if env.is_main:
        if aside.exists():
            shutil.rmtree(aside)
        folder.rename(aside)
    barrier(env)
    return f"note: {path} was written with other settings: moved to {aside}, started fresh"


def intact_checkpoint(layout: RunLayout) -> tuple[Path, dict[str, Any], str | None]:
    """``last`` when it loads and matches its checksum, else the newest intact epoch
    checkpoint with a note saying why; an error when none is intact (nothing is resumed,
    and no final model is written, from a damaged state)."""
    try:
        return layout.last, ckpt_io.load(layout.last), None
    except LsatError as err:
        reason = str(err)
    epochs = []
    for p in layout.checkpoint_dir.glob(f"epoch*{layout.ckpt_suffix}"):
        digits = p.name[len("epoch") : -len(layout.ckpt_suffix)]
        if digits.isdigit() and not p.samefile(layout.last):
            epochs.append((int(digits), p))
    for _, path in sorted(epochs, reverse=True):
        try:
            ck = ckpt_io.load(path)
        except LsatError:
            continue
        return path, ck, f"{reason}; resuming from {path}, the newest intact checkpoint"
    raise LsatError(
        f"{reason}; no intact epoch checkpoint in {layout.checkpoint_dir} to fall back on: "
        "pass --restart to start over"
    )
