"""The extraction loop shared by every backend: resumable, batched, with a progress bar.

Files of the next batch are read (decoded, resized, checked) in a thread pool while the
current batch is computed, and each finished batch is written to the ``.partial`` feature
file before the next begins, so a killed run loses at most one batch.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from lsat import progress
from lsat.errors import LsatError
from lsat.features.backends import Backend
from lsat.features.store import FeatureStore, FeatureWriter, partial_path
from lsat.io import DiskFull, check_free_space, is_disk_full


def is_complete(out: Path, expected: Mapping[str, Any] | None = None) -> int | None:
    """Number of images in ``out`` when it is a complete feature file, else None.

    A complete file is only reused when it was made with the requested settings: each
    attribute in ``expected`` (``backbone``, ``grid``, ``channels``) must equal the recorded
    one, else one error names the file, the attributes and what to do. Silently keeping
    features of another grid or backbone would train on them.
    """
    if not out.is_file():
        return None
    try:
        with FeatureStore(out) as store:
            count = len(store)
            recorded = {"backbone": store.backbone, "grid": store.grid, "channels": store.channels}
    except LsatError:
        return None
    differ = [(k, recorded[k], v) for k, v in (expected or {}).items() if recorded[k] != v]
    if differ:
        what = "; ".join(f"{k} {old!r} recorded, {new!r} requested" for k, old, new in differ)
        raise LsatError(
            f"{out} is a complete feature file made with other settings ({what}): delete it "
            "or rerun `lsat extract` with --force to re-extract it with the requested "
            "settings, or set the features settings (datasets.<name>.features, or the "
            "flags) back to the recorded ones to use it"
        )
    return count


def settings_of(backend: Backend) -> dict[str, Any]:
    """What a complete output made by ``backend`` must have recorded: its backbone and
    grid, and its channels where they are known before reading an input (pixels)."""
    out: dict[str, Any] = {"backbone": backend.backbone, "grid": backend.grid}
    channels = getattr(backend, "channels", None)
    if isinstance(channels, int):
        out["channels"] = channels
    return out


def extract(
    backend: Backend,
    inputs: Sequence[tuple[int, Path]],
    out: str | os.PathLike[str],
    *,
    source: str,
    batch_size: int = 32,
    workers: int = 2,
    force: bool = False,
    log: Callable[[str], Any] = print,
) -> Path:
    """Write the features of ``inputs`` (``(image_id, file)``, sorted by id) to ``out``.

    A complete ``out`` is left alone unless ``force`` (if made with other settings: an
    error); an unfinished ``out.partial`` of the same images and settings is resumed.
    """
    out = Path(out)
    if not inputs:
        raise LsatError(f"no input files to extract into {out}")
    if batch_size < 1:
        raise LsatError(f"batch size must be at least 1; got {batch_size}")
    if not force:
        done = is_complete(out, settings_of(backend))
        if done is not None:
            log(f"{out} is already complete ({done} images); nothing to do (--force redoes it)")
            return out
    elif partial_path(out).exists():
        partial_path(out).unlink()
    ids = [i for i, _ in inputs]
    paths = [p for _, p in inputs]
    channels = backend.probe(paths[0])
    row_bytes = backend.grid**2 * channels * 2  # float16 cells; the file is sparse until written
    if not partial_path(out).exists():  # before the partial file exists: nothing is created
        check_free_space(out.parent, len(ids) * row_bytes, out)
    writer = FeatureWriter(
        out, ids, grid=backend.grid, channels=channels, backbone=backend.backbone, source=source
    )
    if writer.note:
        log(writer.note)
    pending = writer.pending.tolist()
    if len(pending) < len(ids):
        log(f"resuming {writer.partial}: {len(ids) - len(pending)} of {len(ids)} images done")
    batches = [pending[k : k + batch_size] for k in range(0, len(pending), batch_size)]
    check_free_space(writer.partial.parent, len(pending) * row_bytes, writer.partial)
    try:
        _write_batches(backend, ids, paths, batches, writer, workers, out.name)
    except BaseException as err:
        if is_disk_full(err):  # HDF5 cannot close the file any more: no writer.close()
            raise DiskFull(
                f"no space left on device while writing {writer.partial}: the images written "
                "so far are kept there and a rerun resumes once space is free",
                hard_exit=True,
            ) from None
        writer.close()
        raise
    final = writer.finish()
    log(
        f"wrote {final}: {len(ids)} images, grid {backend.grid}×{backend.grid}, {channels} channels"
    )
    return final


def _write_batches(
    backend: Backend,
    ids: list[int],
    paths: list[Path],
    batches: list[list[int]],
    writer: FeatureWriter,
    workers: int,
    name: str,
) -> None:
    """Compute and write ``batches`` (rows of ``ids``), reading the next batch meanwhile."""
    done = len(ids) - sum(len(rows) for rows in batches)
    with (
        ThreadPoolExecutor(max_workers=max(1, workers)) as pool,
        progress.bar(
            total=len(ids), initial=done, unit="img", desc=f"extract {name}", mininterval=1.0
        ) as bar,
    ):

        def submit(rows: list[int]) -> list[Future[Any]]:
            return [pool.submit(backend.read, paths[r]) for r in rows]

        ahead = submit(batches[0]) if batches else []
        for k, rows in enumerate(batches):
            items = [_result(f, ids[r]) for f, r in zip(ahead, rows, strict=True)]
            ahead = submit(batches[k + 1]) if k + 1 < len(batches) else []
            cells = backend.compute(items, [paths[r] for r in rows])
            check_finite(cells, [ids[r] for r in rows], [paths[r] for r in rows])
            writer.write(rows, cells)
            bar.update(len(rows))


def _result(future: Future[Any], image_id: int) -> Any:
    """A read item; its error (which names the file) also names the image id."""
    try:
        return future.result()
    except LsatError as err:
        raise LsatError(f"image {image_id}: {err}") from None


def check_finite(cells: np.ndarray, ids: Sequence[int], paths: Sequence[Path]) -> None:
    """Refuse NaN or inf cells (also float16 overflow of a backbone's output), naming the
    image: one bad cell trains a model of NaN weights."""
    ok = np.isfinite(cells).reshape(len(cells), -1).all(axis=1)
    if not ok.all():
        i = int(np.flatnonzero(~ok)[0])
        raise LsatError(
            f"image {ids[i]} ({paths[i]}): its features contain NaN or infinite values "
            "(above float16's 65504?): nothing of them is written"
        )
