"""What training, prediction and analysis read from a dataset: the :class:`QAData` protocol.

:class:`lsat.data.dataset.QADataset` is the real one; the engine's tests train on a small
in-memory stand-in. The engine types its datasets with this protocol rather than with
``QADataset`` (it needs no HDF5 store to type-check) or ``Any`` (mypy then catches a
misspelt or missing attribute on either side).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

import numpy as np


class QAData(Protocol):
    """Questions as arrays beside a float16 feature bank (docs/architecture.md, Dataset).

    Q questions of T tokens with up to K answers each; the bank holds M images of N cells of
    C channels. Read only when present (``getattr``): ``residency`` (``disk`` when the bank
    did not fit in memory), ``fallback``, ``release_bank()`` and ``feature_shape`` (N, C),
    whose presence says ``read_batch`` also takes ``out=``, a (B, N, C) float16 array to
    fill (the disk path's preallocated, pinned buffer), and ``bank_shape`` (M, N, C) with
    ``read_bank_rows(start, stop, out)``, whose presence lets ``gpu`` residency upload the
    bank in chunks instead of loading it on the host first.
    """

    grid: int  # S, the side of the S×S grid (N = S²)
    num_cells: int  # N
    channels: int  # C
    token_size: int  # vocabulary size
    num_answers: int
    answers: list[str]  # answer index → answer string
    question_ids: np.ndarray  # (Q,) int64
    image_row: np.ndarray  # (Q,) int64 row into the bank
    ques_ix: np.ndarray  # (Q, T) int64
    target_ix: np.ndarray  # (Q, K) int64
    target_score: np.ndarray  # (Q, K) float32

    def __len__(self) -> int: ...

    def read_batch(self, indices: np.ndarray) -> dict[str, np.ndarray]:
        """``img_feat`` (B, N, C) float16, ``ques_ix``, ``target_ix``, ``target_score``, ``qid``."""
        ...

    def feature_bank(self) -> np.ndarray:
        """All features (M, N, C) float16, indexed by ``image_row``."""
        ...


class ReadsInto(QAData, Protocol):
    """A dataset whose ``read_batch`` also fills a preallocated (B, N, C) float16 ``out``."""

    @property
    def feature_shape(self) -> tuple[int, int]:
        """(N, C): the row shape of ``out``."""
        ...

    def read_batch(
        self, indices: np.ndarray, out: np.ndarray | None = None
    ) -> dict[str, np.ndarray]: ...


class BankRows(QAData, Protocol):
    """A dataset that reads rows of its bank into a buffer (the ``gpu`` chunked upload)."""

    @property
    def bank_shape(self) -> tuple[int, int, int]:
        """(M, N, C) of :meth:`feature_bank`, known without loading it."""
        ...

    def read_bank_rows(self, start: int, stop: int, out: np.ndarray) -> None: ...


if TYPE_CHECKING:  # the engine reaches these members through a cast: mypy checks them here
    from lsat.data.dataset import QADataset

    def _conforms(d: QADataset) -> tuple[ReadsInto, BankRows]:
        return d, d
