"""The HDF5 grid-feature store: one file per image set, written resumably, read by id.

Layout (``format_version`` 1): ``features`` (M, N, C) float16 chunked (1, N, C) so one image
is one contiguous read, ``image_ids`` (M,) int64 sorted ascending, attributes ``grid`` (S,
N = S²), ``channels`` (C), ``backbone``, ``source``, ``format_version`` and ``complete``.

Why the writer looks the way it does: extraction over a real image set takes hours, so it
must survive a kill. The file is written as ``<name>.h5.partial``; its datasets are created
once with every chunk allocated up front (and no fill), so afterwards the run only overwrites
raw bytes and never changes HDF5 metadata — a SIGKILL cannot corrupt the file structure. A
``done`` (M,) bool dataset records finished images; it is set only after the image's
features were flushed. On completion ``done`` is dropped, ``complete`` is set, the file is
fsynced and renamed to ``<name>.h5``: a file with that name is always whole.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sys
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from lsat.errors import LsatError

FORMAT_VERSION = 1
PARTIAL_SUFFIX = ".partial"
# Chunk reads in flight at once (FeatureStore._pread_rows); one pool per process.
READ_THREADS = 8
_POOLS: dict[int, ThreadPoolExecutor] = {}


def partial_path(out: str | os.PathLike[str]) -> Path:
    """``results/x/features/train.h5`` → ``results/x/features/train.h5.partial``."""
    p = Path(out)
    return p.with_name(p.name + PARTIAL_SUFFIX)


def open_h5(path: str | os.PathLike[str], mode: str) -> h5py.File:
    """Open an HDF5 file, retrying without HDF5 file locking where the filesystem lacks it.

    Cluster filesystems (NFS, Lustre) often refuse the locks HDF5 takes by default
    ("unable to lock file"); our files have a single writer, so locking adds nothing.
    """
    try:
        return h5py.File(path, mode)
    except OSError as err:
        msg = str(err).lower()
        held = "errno = 11" in msg or "temporarily unavailable" in msg  # another process has it
        if "lock" not in msg or held:
            raise
        return h5py.File(path, mode, locking=False)


def _read_pool() -> ThreadPoolExecutor:
    """The process's chunk-reading threads (a forked DataLoader worker makes its own)."""
    pid = os.getpid()
    if pid not in _POOLS:
        _POOLS.clear()  # a parent's pool has no threads in this child
        _POOLS[pid] = ThreadPoolExecutor(READ_THREADS, thread_name_prefix="lsat-read")
    return _POOLS[pid]


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class FeatureStore:
    """Read-only access to a complete feature file, by image id.

    The HDF5 handle is opened lazily per process, so a store can be handed to DataLoader
    workers (each worker reopens the file instead of sharing a forked handle).
    """

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path)
        if self.path.name.endswith(PARTIAL_SUFFIX):
            raise LsatError(
                f"feature file {self.path} is an unfinished extraction: rerun `lsat extract` "
                "to resume it (it becomes the file without .partial when complete)"
            )
        if not self.path.is_file():
            hint = ""
            if partial_path(self.path).exists():
                hint = f" (an unfinished {partial_path(self.path).name} exists: rerun lsat extract)"
            raise LsatError(f"feature file not found: {self.path}{hint}")
        self._file: h5py.File | None = None
        self._features: h5py.Dataset | None = None
        self._raw: bool | None = None
        self._offsets: np.ndarray | None = None
        self._raw_fd: int | None = None
        self._raw_pid = -1
        self._pid = -1
        f = self._handle()
        attrs = f.attrs
        for key in ("features", "image_ids"):
            if key not in f:
                raise LsatError(f"feature file {self.path} has no {key!r} dataset")
        if not bool(attrs.get("complete", False)):
            raise LsatError(
                f"feature file {self.path} has no completion mark: it was not written to the "
                "end by lsat extract; delete it and rerun the extraction"
            )
        version = int(attrs.get("format_version", -1))
        if version != FORMAT_VERSION:
            raise LsatError(
                f"feature file {self.path} has format_version {version}; expected {FORMAT_VERSION}"
            )
        self.image_ids: np.ndarray = np.asarray(f["image_ids"][...], dtype=np.int64)
        self.grid = int(attrs["grid"])
        self.num_cells = self.grid * self.grid
        self.channels = int(attrs["channels"])
        self.backbone = str(attrs["backbone"])
        self.source = str(attrs["source"])
        content = attrs.get("content_sha256")
        self.content_sha256 = None if content is None else str(content)
        shape = f["features"].shape
        if shape != (len(self.image_ids), self.num_cells, self.channels):
            raise LsatError(
                f"feature file {self.path}: features shape {shape} does not match "
                f"{len(self.image_ids)} image ids, grid {self.grid} and {self.channels} channels"
            )
        self._row = {int(i): r for r, i in enumerate(self.image_ids)}

    def _handle(self) -> h5py.File:
        if self._file is None or self._pid != os.getpid():
            try:
                self._file = open_h5(self.path, "r")
            except OSError as err:
                raise LsatError(
                    f"feature file {self.path} is not a readable HDF5 file: {err}"
                ) from None
            self._pid = os.getpid()
            self._features = None
        return self._file

    def _dataset(self) -> h5py.Dataset:
        """The ``features`` dataset of this process's handle (looked up once per open)."""
        f = self._handle()
        if self._features is None:
            self._features = f["features"]
        return self._features

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_file"] = None
        state["_features"] = None
        state["_pid"] = -1
        state["_raw_fd"] = None
        state["_raw_pid"] = -1
        return state

    def __len__(self) -> int:
        return len(self.image_ids)

    def __contains__(self, image_id: object) -> bool:
        try:
            return int(image_id) in self._row  # type: ignore[call-overload]
        except (TypeError, ValueError):
            return False

    def row(self, image_id: int) -> int:
        """Row of ``image_id`` in the file; LsatError naming the file when absent."""
        try:
            return self._row[int(image_id)]
        except KeyError:
            raise LsatError(f"image id {image_id} has no features in {self.path}") from None

    def get(self, image_id: int) -> np.ndarray:
        """Features (N, C) float16 of one image (one contiguous chunk read)."""
        return self._dataset()[self.row(image_id)]

    def get_many(self, image_ids: Iterable[int]) -> np.ndarray:
        """Features (B, N, C) float16 of several images, in the order given."""
        rows = [self.row(i) for i in image_ids]
        out = np.empty((len(rows), self.num_cells, self.channels), dtype=np.float16)
        self.read_into(rows, out, range(len(rows)))
        return out

    def read_into(self, rows: Sequence[int], out: np.ndarray, positions: Iterable[int]) -> None:
        """Copy file rows ``rows`` into ``out[positions]`` (``out``: (M, N, C) float16, C-order).

        No temporary array per row or per call, so a preallocated bank is filled at its own
        size (``load_all()[rows]`` held the file and the copy: twice the bank).
        """
        ds = self._dataset()
        if self._raw_rows(ds) and out.flags.c_contiguous and out.dtype == np.dtype("<f2"):
            # Each row is one unfiltered chunk holding exactly its little-endian float16
            # values: copy the chunk's bytes straight into place (a fraction of read_direct's
            # time, whose two selections dominate: benchmarks/RESULTS.md, "Feature loading").
            raw = out.reshape(len(out), -1).view(np.uint8)
            offsets = self._chunk_offsets(ds)
            if offsets is not None:
                self._pread_rows(offsets, rows, raw, positions)
                return
            for r, k in zip(rows, positions, strict=True):
                ds.id.read_direct_chunk((r, 0, 0), out=raw[k])
        else:
            for r, k in zip(rows, positions, strict=True):
                ds.read_direct(out, source_sel=np.s_[r], dest_sel=np.s_[k])

    def _raw_rows(self, ds: h5py.Dataset) -> bool:
        """Whether rows can be read as raw chunks (the layout FeatureWriter writes)."""
        if self._raw is None:
            self._raw = (
                ds.chunks == (1, self.num_cells, self.channels)
                and ds.id.get_create_plist().get_nfilters() == 0
                and ds.dtype == np.dtype("<f2")
                and sys.byteorder == "little"
            )
        return self._raw

    def _chunk_offsets(self, ds: h5py.Dataset) -> np.ndarray | None:
        """File offset of each row's chunk (one ``chunk_iter`` pass, ~12 µs a chunk), or None
        where h5py/HDF5 lack ``chunk_iter`` (h5py < 3.8, HDF5 < 1.12.3)."""
        if self._offsets is None:
            if not hasattr(ds.id, "chunk_iter"):
                return None
            offsets = np.full(len(self.image_ids), -1, dtype=np.int64)

            def note(chunk: Any) -> None:
                offsets[chunk.chunk_offset[0]] = chunk.byte_offset

            ds.id.chunk_iter(note)
            self._offsets = offsets
        return self._offsets

    def _pread_rows(
        self, offsets: np.ndarray, rows: Sequence[int], raw: np.ndarray, positions: Iterable[int]
    ) -> None:
        """Read row chunks with ``os.preadv`` from ``READ_THREADS`` threads at once.

        One request at a time leaves network and virtual disks mostly idle: uncached, the
        project's VM read 256 KB chunks at 309 MB/s one by one and 1,156 MB/s eight at a
        time (benchmarks/RESULTS.md). ``preadv`` releases the GIL (h5py's reads hold a
        global lock); each thread takes a contiguous share of the file-ordered rows.
        """
        fd = self._fd()
        nbytes = raw.shape[1]
        jobs = list(zip(rows, positions, strict=True))

        def read(share: list[tuple[int, int]]) -> None:
            for r, k in share:
                got = os.preadv(fd, [raw[k]], int(offsets[r])) if offsets[r] >= 0 else -1
                if got != nbytes:
                    raise LsatError(
                        f"feature file {self.path}: row {r} read {got} of {nbytes} bytes "
                        "(truncated or changed while reading?)"
                    )

        step = -(-len(jobs) // READ_THREADS) or 1
        shares = [jobs[i : i + step] for i in range(0, len(jobs), step)]
        if len(shares) <= 1:
            for share in shares:
                read(share)
            return
        list(_read_pool().map(read, shares))  # re-raises a thread's error here

    def _fd(self) -> int:
        """This process's raw descriptor of the file (reopened after a fork)."""
        if self._raw_fd is None or self._raw_pid != os.getpid():
            self._raw_fd, self._raw_pid = os.open(self.path, os.O_RDONLY), os.getpid()
        return self._raw_fd

    def load_all(self) -> np.ndarray:
        """Every image's features (M, N, C) float16, in ``image_ids`` order."""
        return self._dataset()[...]

    def close(self) -> None:
        if self._file is not None:
            with contextlib.suppress(Exception):
                self._file.close()
        if self._raw_fd is not None and self._raw_pid == os.getpid():
            with contextlib.suppress(OSError):
                os.close(self._raw_fd)
        self._file = None
        self._features = None
        self._raw_fd = None

    def __enter__(self) -> FeatureStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class FeatureWriter:
    """Resumable writer of one feature file (see the module docstring for the protocol).

    ``image_ids`` fixes the rows (sorted ascending). An existing ``.partial`` file with the
    same ids and attributes is resumed; one that differs, or that cannot be opened, is
    replaced (it is only unfinished scratch), and ``self.note`` says why.
    """

    def __init__(
        self,
        out: str | os.PathLike[str],
        image_ids: Sequence[int],
        *,
        grid: int,
        channels: int,
        backbone: str,
        source: str,
    ):
        self.out = Path(out)
        self.partial = partial_path(self.out)
        ids = np.asarray(list(image_ids), dtype=np.int64)
        if len(ids) == 0:
            raise LsatError(f"no images to write into {self.out}")
        if np.any(np.diff(ids) <= 0):
            raise LsatError(f"image ids for {self.out} must be unique and sorted ascending")
        self.image_ids = ids
        self.grid, self.channels = int(grid), int(channels)
        self.num_cells = self.grid * self.grid
        self.attrs: dict[str, Any] = {
            "grid": self.grid,
            "channels": self.channels,
            "backbone": str(backbone),
            "source": str(source),
            "format_version": FORMAT_VERSION,
        }
        self.note = ""
        self._file = self._resume() or self._create()
        self._done = self._file["done"][...].astype(bool)

    # -- opening -------------------------------------------------------------------------
    def _resume(self) -> h5py.File | None:
        if not self.partial.exists():
            return None
        try:
            f = open_h5(self.partial, "r+")
        except OSError:
            self.note = f"{self.partial} could not be opened; starting over"
            return None
        try:
            same = (
                "done" in f
                and "features" in f
                and np.array_equal(f["image_ids"][...], self.image_ids)
                and f["features"].shape == (len(self.image_ids), self.num_cells, self.channels)
                and all(_same_attr(f.attrs.get(k), v) for k, v in self.attrs.items())
            )
        except (KeyError, OSError):
            same = False
        if not same:
            f.close()
            self.note = f"{self.partial} was made with other images or settings; starting over"
            return None
        return f

    def _create(self) -> h5py.File:
        """Create the partial file fully allocated, under a temporary name, then rename."""
        self.partial.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.partial.with_name(self.partial.name + ".tmp")
        m, n, c = len(self.image_ids), self.num_cells, self.channels
        with open_h5(tmp, "w") as f:
            for key, value in self.attrs.items():
                f.attrs[key] = value
            f.create_dataset("image_ids", data=self.image_ids, dtype=np.int64)
            f.create_dataset("features", shape=(m, n, c), dtype=np.float16, dcpl=_early_dcpl(n, c))
            f.create_dataset("done", shape=(m,), dtype=bool, dcpl=_early_dcpl())
            f["done"][...] = np.zeros(m, dtype=bool)
        _fsync_path(tmp)
        os.replace(tmp, self.partial)
        return open_h5(self.partial, "r+")

    # -- writing -------------------------------------------------------------------------
    @property
    def pending(self) -> np.ndarray:
        """Rows whose features are not yet written."""
        return np.flatnonzero(~self._done)

    def write(self, rows: Sequence[int], features: np.ndarray) -> None:
        """Store ``features`` (B, N, C) for ``rows`` and mark them done once flushed."""
        rows = [int(r) for r in rows]
        expected = (len(rows), self.num_cells, self.channels)
        if features.shape != expected:
            raise LsatError(
                f"{self.partial}: a batch of features has shape {tuple(features.shape)}; "
                f"expected {expected}"
            )
        feats = np.ascontiguousarray(features, dtype=np.float16)
        ds = self._file["features"]
        for k, r in enumerate(rows):
            ds.write_direct(feats, source_sel=np.s_[k], dest_sel=np.s_[r])
        self._file.flush()  # features reach the file before their done flags do
        done = self._file["done"]
        for r in rows:
            done[r] = True
            self._done[r] = True
        self._file.flush()

    def finish(self) -> Path:
        """Mark the file complete, fsync it and rename it to its final name."""
        if not self._done.all():
            raise LsatError(f"{self.partial}: {int((~self._done).sum())} images still missing")
        f = self._file
        del f["done"]
        # Recorded once here, read back by every run's provenance (never recomputed per run).
        f.attrs["content_sha256"] = content_hash(f)
        f.attrs["complete"] = True
        f.flush()
        f.close()
        _fsync_path(self.partial)
        os.replace(self.partial, self.out)
        _fsync_path(self.out.parent)
        return self.out

    def close(self) -> None:
        """Close without finishing (the ``.partial`` file stays for a later resume)."""
        with contextlib.suppress(Exception):
            self._file.close()


def content_hash(f: h5py.File, rows_per_block: int = 256) -> str:
    """sha256 of the image ids and the float16 features (little-endian bytes, row order).

    It identifies the numbers a model was trained on, whatever the HDF5 layout or
    attributes, so two extractions of the same images with the same settings match.
    """
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(f["image_ids"][...], dtype="<i8").tobytes())
    ds = f["features"]
    for start in range(0, ds.shape[0], rows_per_block):
        block = ds[start : start + rows_per_block]
        h.update(np.ascontiguousarray(block, dtype="<f2").tobytes())
    return h.hexdigest()


def _early_dcpl(*row_shape: int) -> h5py.h5p.PropDCID:
    """Chunked layout with every chunk allocated at creation and never filled.

    Early allocation means later writes touch raw data only (crash-safe structure); no
    fill means creating a 20 GB file does not first write 20 GB of zeros.
    """
    dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
    if row_shape:
        dcpl.set_chunk((1, *row_shape))
    dcpl.set_alloc_time(h5py.h5d.ALLOC_TIME_EARLY)
    dcpl.set_fill_time(h5py.h5d.FILL_TIME_NEVER)
    return dcpl


def _same_attr(stored: Any, wanted: Any) -> bool:
    if isinstance(stored, bytes):
        stored = stored.decode()
    if isinstance(wanted, str):
        return str(stored) == wanted
    try:
        return int(stored) == int(wanted)
    except (TypeError, ValueError):
        return False
