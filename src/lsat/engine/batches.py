"""Data order and batch assembly for the three feature residencies.

The order of an epoch is a permutation drawn from its own generator seeded by (seed, epoch),
so it never depends on how many random numbers the model consumed, on the residency or on
the number of processes: a global step takes the next ``batch_size`` indices of the
permutation and rank r of W takes the r-th of W equal slices (the last incomplete batch is
dropped, as openvqa does). Resuming in the middle of an epoch re-draws the permutation and
skips the steps already done.

Residencies (``train.feature_residency``):

- ``disk``: a ``DataLoader`` (``num_workers`` processes) whose items are whole batches read
  from the HDF5 files by ``dataset.read_batch`` (float16, no per-example collation);
- ``ram``: ``dataset.feature_bank()`` held in memory, batches gathered by index (into pinned
  memory for a GPU, copied with ``non_blocking``, float16 until on the device);
- ``gpu``: the bank as a CUDA tensor, batches gathered on the device with ``index_select``
  (no DataLoader; the indices of all steps go to the device in one non-blocking copy, so
  a step never waits for a host-to-device copy).

All three give bit-identical batches (features are float16 everywhere and converted to
float32 the same way).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, cast

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from lsat.data.contract import BankRows, QAData, ReadsInto
from lsat.data.memory import fits_on_device
from lsat.engine.prefetch import prefetched
from lsat.errors import LsatError

RESIDENCIES = ("disk", "ram", "gpu")
# Batches the disk residency reads ahead of the step (in one background thread).
PREFETCH_BATCHES = 4
# Host bytes per chunk of a ``gpu`` bank upload (two such pinned buffers at most).
UPLOAD_CHUNK = 256 * 2**20


class BatchReads(Dataset[dict[str, np.ndarray]]):
    """A view of a dataset whose item ``idx`` (an index array) is the whole batch."""

    def __init__(self, dataset: QAData) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, indices: np.ndarray) -> dict[str, np.ndarray]:
        return self.dataset.read_batch(indices)


def epoch_permutation(n: int, seed: int, epoch: int) -> np.ndarray:
    """The data order of ``epoch``: a function of (seed, epoch) only."""
    gen = torch.Generator()
    gen.manual_seed(int(seed) * 1_000_003 + int(epoch))
    return torch.randperm(n, generator=gen).numpy()


def train_steps(
    n: int, *, batch_size: int, world: int, rank: int, seed: int, epoch: int
) -> list[np.ndarray]:
    """This rank's indices for every global step of ``epoch`` (drop_last)."""
    if batch_size % world:
        raise LsatError(
            f"train.batch_size {batch_size} must be divisible by the number of processes {world}"
        )
    if n < batch_size:
        raise LsatError(
            f"the training split has {n} questions, fewer than one batch of "
            f"train.batch_size={batch_size}"
        )
    perm = epoch_permutation(n, seed, epoch)
    per = batch_size // world
    return [
        perm[s * batch_size + rank * per : s * batch_size + (rank + 1) * per]
        for s in range(n // batch_size)
    ]


def eval_steps(n: int, batch_size: int) -> list[np.ndarray]:
    """Sequential batches over all ``n`` examples (the last one may be short)."""
    return [np.arange(s, min(s + batch_size, n)) for s in range(0, n, batch_size)]


def _gather(src: torch.Tensor, index: torch.Tensor, pin: bool) -> torch.Tensor:
    """``src.index_select(0, index)``, into pinned memory when ``pin`` (for non_blocking)."""
    if not pin:
        return src.index_select(0, index)
    out = torch.empty((len(index), *src.shape[1:]), dtype=src.dtype, pin_memory=True)
    return torch.index_select(src, 0, index, out=out)


def _bank_tensor(dataset: QAData, residency: str, device: torch.device) -> torch.Tensor:
    """The dataset's float16 bank as a tensor: shared with the host array for ``ram``; for
    ``gpu`` uploaded in chunks (:func:`upload_bank`) when the dataset reads bank rows
    (``read_bank_rows``), else uploaded whole and the host copy dropped."""
    fallback = getattr(dataset, "fallback", "disk")
    shape = getattr(dataset, "bank_shape", None)
    if residency == "gpu" and shape is not None and hasattr(dataset, "read_bank_rows"):
        if fits_on_device(2 * int(np.prod(shape)), device, fallback):
            return upload_bank(cast(BankRows, dataset), tuple(shape), device)
        return torch.from_numpy(np.ascontiguousarray(dataset.feature_bank()))
    host = torch.from_numpy(np.ascontiguousarray(dataset.feature_bank()))
    if residency != "gpu" or not fits_on_device(
        host.numel() * host.element_size(), device, fallback
    ):
        return host
    bank = host.to(device)
    release = getattr(dataset, "release_bank", None)
    if release is not None:
        release()
    return bank


def upload_bank(
    dataset: BankRows, shape: tuple[int, ...], device: torch.device, chunk_bytes: int | None = None
) -> torch.Tensor:
    """The (M, N, C) float16 bank allocated on ``device`` and filled chunk by chunk.

    Reading the whole bank on the host first (21.7 GB for VQA-v2's train2014) then copying
    it doubled the host's peak for a bank that lives on the GPU. Here the host holds two
    pinned buffers of ``chunk_bytes`` (default ``UPLOAD_CHUNK``): one is read while the
    other's copy runs (``non_blocking``; an event says when a buffer may be refilled).
    """
    m, row = shape[0], shape[1:]
    per = max(1, (chunk_bytes or UPLOAD_CHUNK) // (2 * int(np.prod(row))))  # rows per chunk
    cuda = device.type == "cuda"
    bank = torch.empty(shape, dtype=torch.float16, device=device)
    buffers = [torch.empty((min(per, m), *row), dtype=torch.float16, pin_memory=cuda)]
    if m > per:
        buffers.append(torch.empty_like(buffers[0], pin_memory=cuda))
    copied: list[Any] = [None] * len(buffers)
    for i, start in enumerate(range(0, m, per)):
        stop, k = min(start + per, m), i % len(buffers)
        if copied[k] is not None:
            copied[k].synchronize()  # that buffer's previous copy has left it
        buf = buffers[k][: stop - start]
        dataset.read_bank_rows(start, stop, buf.numpy())
        bank[start:stop].copy_(buf, non_blocking=cuda)
        if cuda:
            copied[k] = torch.cuda.Event()
            copied[k].record()
    if cuda:
        torch.cuda.current_stream(device).synchronize()
    return bank


def _read_ahead(dataset: QAData, pin: bool, idx: np.ndarray) -> dict[str, torch.Tensor]:
    """One batch for the read-ahead thread: features read straight into a new (pinned, for
    a GPU) float16 tensor when the dataset can (``feature_shape``), so no copy follows the
    read (``pin_memory()`` of the read batch was a second 16 MB copy per batch of 64).
    Converting to float32 here instead of in the step cost more CPU, not less (the thread's
    OpenMP pool is not ``torch.set_num_threads``'), so it stays on the training device."""
    idx = np.asarray(idx, dtype=np.int64)
    shape = getattr(dataset, "feature_shape", None)
    feats = None
    batch: dict[str, np.ndarray | torch.Tensor]
    if shape is None:  # a dataset that allocates its own batches
        batch = dict(dataset.read_batch(idx))
    else:
        feats = torch.empty((len(idx), *shape), dtype=torch.float16, pin_memory=pin)
        batch = dict(cast(ReadsInto, dataset).read_batch(idx, out=feats.numpy()))
        batch["img_feat"] = feats  # the tensor read_batch filled: pinned already
    tensors = {
        k: v if isinstance(v, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(v))
        for k, v in batch.items()
    }
    if pin:
        tensors = {k: v if v is feats else v.pin_memory() for k, v in tensors.items()}
    return tensors


class BatchSource:
    """Turns arrays of dataset indices into batches on ``device``."""

    def __init__(
        self,
        dataset: QAData,
        residency: str,
        device: torch.device,
        num_workers: int = 0,
    ):
        if residency not in RESIDENCIES:
            raise LsatError(
                f"train.feature_residency {residency!r}: expected one of {', '.join(RESIDENCIES)}"
            )
        if residency == "gpu" and device.type != "cuda":
            raise LsatError(
                "train.feature_residency 'gpu' needs a CUDA device; use 'ram' or 'disk' on CPU"
            )
        if getattr(dataset, "residency", residency) == "disk":
            residency = "disk"  # the dataset fell back: its bank did not fit in memory
        self.dataset = dataset
        self.residency = residency
        self.device = device
        self.num_workers = num_workers
        if residency != "disk":
            self._bank = _bank_tensor(dataset, residency, device)
            where = self._bank.device
            self._arrays = {
                "image_row": torch.as_tensor(dataset.image_row, dtype=torch.int64),
                "ques_ix": torch.as_tensor(dataset.ques_ix, dtype=torch.int64),
                "target_ix": torch.as_tensor(dataset.target_ix, dtype=torch.int64),
                "target_score": torch.as_tensor(dataset.target_score, dtype=torch.float32),
            }
            self._arrays = {k: v.to(where) for k, v in self._arrays.items()}

    def batches(self, index_batches: Sequence[np.ndarray]) -> Iterator[dict[str, torch.Tensor]]:
        """Yield one batch dict (img_feat, ques_ix, target_ix, target_score) per index array."""
        if self.residency == "disk":
            yield from self._disk(index_batches)
            return
        pin = self.device.type == "cuda" and self._bank.device.type == "cpu"
        for i in self._epoch_indices(index_batches):
            rows = self._arrays["image_row"].index_select(0, i)
            batch = {
                "img_feat": _gather(self._bank, rows, pin),
                "ques_ix": _gather(self._arrays["ques_ix"], i, pin),
                "target_ix": _gather(self._arrays["target_ix"], i, pin),
                "target_score": _gather(self._arrays["target_score"], i, pin),
            }
            batch = {k: v.to(self.device, non_blocking=True) for k, v in batch.items()}
            batch["img_feat"] = batch["img_feat"].float()  # float16 until on the device
            yield batch

    def _epoch_indices(self, index_batches: Sequence[np.ndarray]) -> list[torch.Tensor]:
        """The index arrays where the bank is, in one copy for the whole call.

        With ``gpu`` residency a per-step ``torch.from_numpy(idx).to(cuda)`` is a blocking
        copy from pageable memory: the host waits for the device every step. One
        non-blocking copy of all steps' indices from pinned memory, sliced on the device,
        keeps the step free of host synchronisation.
        """
        if not len(index_batches):
            return []
        sizes = [len(b) for b in index_batches]
        flat = torch.from_numpy(
            np.concatenate([np.asarray(b, dtype=np.int64) for b in index_batches])
        )
        if self._bank.device.type == "cuda":
            flat = flat.pin_memory().to(self._bank.device, non_blocking=True)
        return list(torch.split(flat, sizes))

    def _disk(self, index_batches: Sequence[np.ndarray]) -> Iterator[dict[str, torch.Tensor]]:
        if not len(index_batches):
            return
        for item in self._disk_reads(index_batches):
            yield {
                "img_feat": item["img_feat"].to(self.device, non_blocking=True).float(),
                "ques_ix": item["ques_ix"].to(self.device, non_blocking=True),
                "target_ix": item["target_ix"].to(self.device, non_blocking=True),
                "target_score": item["target_score"].to(self.device, non_blocking=True).float(),
            }

    def _disk_reads(self, index_batches: Sequence[np.ndarray]) -> Iterable[dict[str, Any]]:
        """Whole batches read from the files, still float16: read ahead by a thread in this
        process (``num_workers: 0``, no copies between processes) or by DataLoader workers."""
        pin = self.device.type == "cuda"
        if not self.num_workers:
            read = functools.partial(_read_ahead, self.dataset, pin)
            return prefetched(read, index_batches, depth=PREFETCH_BATCHES)
        return DataLoader(
            BatchReads(self.dataset),
            sampler=[np.asarray(b, dtype=np.int64) for b in index_batches],
            batch_size=None,  # items are batches already: no per-example collation
            num_workers=self.num_workers,
            pin_memory=pin,
            # Its own generator: creating the iterator must not consume the global RNG,
            # or dropout masks would differ from the ram/gpu residencies.
            generator=torch.Generator(),
            persistent_workers=False,
        )
