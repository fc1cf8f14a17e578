"""Question sets joined to their grid features: the Dataset every model trains on.

Everything that can be wrong with the inputs is checked at construction, before training
starts: unknown question sets, questions whose image has no features (the error names the
question id, image id and feature file), feature files whose grid or channels disagree with
the config. Features are passed through untouched (float16 → float32 only), so all-zero
padding cells stay exactly zero for the model's padding mask.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
from torch.utils.data import Dataset

from lsat import progress
from lsat.config import DatasetConfig
from lsat.data.answers import read_answers, soft_targets
from lsat.features.store import FeatureStore
from lsat.data.memory import bank_residency
from lsat.data.records import Question
from lsat.data.tokens import encode, read_vocab
from lsat.data.vocab import load_questions
from lsat.errors import LsatError

RESIDENCIES = ("disk", "ram", "gpu")


class QADataset(Dataset[dict[str, np.ndarray | np.int64]]):
    """Questions, answer targets and the rows of their images' features (see the docs).

    ``image_row`` indexes a bank of the distinct images the questions use; with residency
    ``disk`` each item is read from its HDF5 file, with ``ram``/``gpu`` the bank is loaded
    into memory once (``feature_bank()``), and the engine may gather batches from it.
    """

    def __init__(
        self,
        questions: list[Question],
        ques_ix: np.ndarray,
        target_ix: np.ndarray,
        target_score: np.ndarray,
        image_row: np.ndarray,
        bank: list[tuple[FeatureStore, int]],
        answers: list[str],
        token_size: int,
        residency: str,
        fallback: str = "disk",
    ):
        self.questions = questions
        self.ques_ix = ques_ix
        self.target_ix = target_ix
        self.target_score = target_score
        self.image_row = image_row
        self.question_ids = np.array([q.qid for q in questions], dtype=np.int64)
        self.answers = answers
        self.num_answers = len(answers)
        self.token_size = token_size
        self.residency = residency
        self._bank_index = bank
        store = bank[0][0] if bank else None
        self.grid = store.grid if store else 0
        self.num_cells = store.num_cells if store else 0
        self.channels = store.channels if store else 0
        self._bank: np.ndarray | None = None
        self.bank_bytes = len(bank) * self.num_cells * self.channels * 2
        # Checked before allocating: a bank that does not fit falls back to disk or stops.
        what = f"{len(questions)} questions ({len(bank)} images)"
        self.fallback = fallback
        self.residency = bank_residency(self.bank_bytes, residency, fallback, what)
        if self.residency == "ram":  # gpu: uploaded in chunks (engine), never whole on the host
            self.feature_bank()

    def __len__(self) -> int:
        return len(self.questions)

    def __getitem__(self, i: int) -> dict[str, np.ndarray | np.int64]:
        row = int(self.image_row[i])
        if self._bank is not None:
            feat = self._bank[row]
        else:
            store, image_id = self._bank_index[row]
            feat = store.get(image_id)
        return {
            "img_feat": np.asarray(feat, dtype=np.float32),
            "ques_ix": self.ques_ix[i],
            "target_ix": self.target_ix[i],
            "target_score": self.target_score[i],
            "qid": self.question_ids[i],
        }

    @property
    def feature_shape(self) -> tuple[int, int]:
        """(cells, channels) of one image's features: ``read_batch(out=)``'s row shape."""
        return self.num_cells, self.channels

    def read_batch(
        self, indices: Sequence[int] | np.ndarray, out: np.ndarray | None = None
    ) -> dict[str, np.ndarray]:
        """Examples ``indices`` as one batch, features (B, N, C) still float16.

        The disk path's unit of work: each distinct image of the batch read once, in file
        order, straight into ``out`` (a preallocated (B, N, C) float16 array, e.g. pinned
        memory for the GPU copy; a new one when None), and no per-example conversion or
        collation (benchmarks/RESULTS.md, "Feature loading"); the engine converts to float32
        on the training device.
        """
        idx = np.asarray(indices, dtype=np.int64)
        rows = self.image_row[idx]
        if out is None:
            out = np.empty((len(idx), self.num_cells, self.channels), np.float16)
        if self._bank is not None:
            np.take(self._bank, rows, axis=0, out=out)
        else:
            distinct, first, inverse = np.unique(rows, return_index=True, return_inverse=True)
            self._read_rows(distinct.tolist(), out, first.tolist())
            repeats = np.flatnonzero(first[inverse] != np.arange(len(rows)))
            if len(repeats):  # an image asked twice in the batch: copied, not read again
                out[repeats] = out[first[inverse[repeats]]]
        return {
            "img_feat": out,
            "ques_ix": self.ques_ix[idx],
            "target_ix": self.target_ix[idx],
            "target_score": self.target_score[idx],
            "qid": self.question_ids[idx],
        }

    def _read_rows(
        self, bank_rows: Sequence[int], out: np.ndarray, positions: Sequence[int]
    ) -> None:
        """Bank rows ``bank_rows`` from their files into ``out[positions]``: per feature
        file in file order (sequential reads where the storage rewards them)."""
        for store, where, ids in self._by_store(bank_rows):
            rows = np.array([store.row(i) for i in ids], dtype=np.int64)
            order = np.argsort(rows, kind="stable")
            dest = np.asarray(positions, dtype=np.int64)[where][order]
            store.read_into(rows[order].tolist(), out, dest.tolist())

    @property
    def bank_shape(self) -> tuple[int, int, int]:
        """(M, N, C) of :meth:`feature_bank`, known without loading it."""
        return len(self._bank_index), self.num_cells, self.channels

    def read_bank_rows(self, start: int, stop: int, out: np.ndarray) -> None:
        """Bank rows ``start:stop`` into ``out[: stop - start]`` (float16), from the host
        bank when loaded, else from the files in file order: the ``gpu`` upload's unit, so
        the host holds a chunk, never the bank."""
        if self._bank is not None:
            out[: stop - start] = self._bank[start:stop]
            return
        self._read_rows(range(start, stop), out, range(stop - start))

    def feature_bank(self) -> np.ndarray:
        """All features (M, N, C) float16 the dataset uses, indexed by ``image_row``.

        Each image's chunk is read straight into its row of one preallocated array, in file
        order per feature file: the peak is the bank itself, not the bank plus the file.
        """
        if self._bank is None:
            bank = np.empty((len(self._bank_index), self.num_cells, self.channels), np.float16)
            groups = self._by_store(range(len(self._bank_index)))
            for store, positions, ids in progress.bar(groups, desc="loading features", leave=False):
                rows = np.array([store.row(i) for i in ids], dtype=np.int64)
                order = np.argsort(rows, kind="stable")  # sequential reads of the file
                store.read_into(rows[order].tolist(), bank, np.asarray(positions)[order].tolist())
            self._bank = bank
        return self._bank

    def release_bank(self) -> None:
        """Drop the host copy of the bank (after it was uploaded to a GPU); items and
        ``read_batch`` then read from the files again."""
        self._bank = None

    def _by_store(self, rows: Iterable[int]) -> list[tuple[FeatureStore, list[int], list[int]]]:
        """Bank ``rows`` grouped per feature file: (store, positions in ``rows``, image ids)."""
        groups: dict[int, tuple[FeatureStore, list[int], list[int]]] = {}
        for pos, row in enumerate(rows):
            store, image_id = self._bank_index[row]
            entry = groups.setdefault(id(store), (store, [], []))
            entry[1].append(pos)
            entry[2].append(image_id)
        return list(groups.values())

    def close(self) -> None:
        for store in {id(s): s for s, _ in self._bank_index}.values():
            store.close()


def build_dataset(
    ds: DatasetConfig,
    qsets: Sequence[str],
    *,
    vocab_path: str | Path,
    answers_path: str | Path,
    residency: str = "disk",
) -> QADataset:
    """Read the question sets ``qsets`` of ``ds`` and join them to their features."""
    valid = tuple(ds.fmt.question_sets)
    for qset in qsets:
        if qset not in valid:
            raise LsatError(
                f"unknown question set {qset!r} for dataset {ds.name!r} ({ds.format}): "
                f"expected one of {', '.join(valid)}"
            )
    if residency not in RESIDENCIES:
        raise LsatError(f"unknown feature residency {residency!r}: expected one of disk, ram, gpu")
    token_to_ix, max_token = read_vocab(vocab_path)
    answers = read_answers(answers_path)
    ans_to_ix = {a: i for i, a in enumerate(answers)}
    stores = _Stores(ds)
    questions: list[Question] = []
    rows: list[int] = []
    for qset in qsets:
        found = load_questions(ds, qset)
        if not found:
            raise LsatError(
                f"question set {qset!r} of dataset {ds.name!r} has no questions "
                f"({ds.fmt.question_file(ds.raw_dir, qset)}): an empty set would be "
                "trained on or scored as 0.00"
            )
        for q in found:
            rows.append(stores.row_of(q, qset))
            questions.append(q)
    ques_ix = np.zeros((len(questions), max_token), np.int64)
    for i, q in enumerate(questions):
        ques_ix[i] = encode(q.question, token_to_ix, max_token)
    target_ix, target_score = _targets(ds, questions, ans_to_ix, Path(answers_path))
    return QADataset(
        questions,
        ques_ix,
        target_ix,
        target_score,
        np.asarray(rows, dtype=np.int64),
        stores.bank,
        answers,
        len(token_to_ix),
        residency,
        fallback=ds.train.residency_fallback,
    )


class _Stores:
    """Opens feature files on demand, checks them, and numbers the images used."""

    def __init__(self, ds: DatasetConfig):
        self.ds = ds
        self._open: dict[str, FeatureStore] = {}
        self._rows: dict[tuple[str, int], int] = {}
        self.bank: list[tuple[FeatureStore, int]] = []
        self.grid = int(ds.features.grid)
        self.channels = _expected_channels(ds)

    def store(self, image_set: str) -> FeatureStore:
        if image_set not in self._open:
            store = FeatureStore(self.ds.paths.features(image_set))
            self._check(store)
            self._open[image_set] = store
        return self._open[image_set]

    def _check(self, store: FeatureStore) -> None:
        want_c = store.channels if self.channels is None else self.channels
        if store.grid != self.grid or store.channels != want_c:
            raise LsatError(
                f"feature file {store.path} holds features of shape "
                f"({store.num_cells}, {store.channels}) per image (grid {store.grid}); dataset "
                f"{self.ds.name!r} expects ({self.grid * self.grid}, {want_c}) (features.grid "
                f"{self.grid}, channels from the config or the dataset's other feature files)"
            )
        self.channels = store.channels  # every file of the dataset must agree

    def row_of(self, q: Question, qset: str) -> int:
        image_sets = self.ds.fmt.feature_sets(qset)  # searched in order
        for image_set in image_sets:
            store = self.store(image_set)
            if q.image_id in store:
                key = (image_set, q.image_id)
                if key not in self._rows:
                    self._rows[key] = len(self.bank)
                    self.bank.append((store, q.image_id))
                return self._rows[key]
        files = " or ".join(str(self._open[s].path) for s in image_sets)
        raise LsatError(
            f"question id {q.qid} ({qset}) refers to image id {q.image_id}, which has no "
            f"features in {files}; rerun `lsat extract` for that image set"
        )


def _expected_channels(ds: DatasetConfig) -> int | None:
    """Channels the config implies (img_feat_size, or the pixels backbone's 3·p² [+ 2])."""
    size = ds.model.get("options", {}).get("img_feat_size")
    if size:
        return int(size)
    if ds.features.backend == "pixels":
        from lsat.features.backends import pixels_channels

        return pixels_channels(ds.features.cell_pixels, ds.features.coords)
    return None


def _targets(
    ds: DatasetConfig, questions: list[Question], ans_to_ix: dict[str, int], answers_path: Path
) -> tuple[np.ndarray, np.ndarray]:
    """``(target_ix, target_score)`` (Q, K): VQA soft scores, CLEVR the one answer."""
    if ds.fmt.one_answer:
        ix = np.zeros((len(questions), 1), np.int64)
        score = np.zeros((len(questions), 1), np.float32)
        for i, q in enumerate(questions):
            if q.answer is None:
                continue
            if q.answer not in ans_to_ix:
                raise LsatError(
                    f"question_index {q.qid}: answer {q.answer!r} is not in {answers_path}; "
                    "rebuild it with `lsat vocab`"
                )
            ix[i, 0], score[i, 0] = ans_to_ix[q.answer], 1.0
        return ix, score
    pairs = [soft_targets(q.answers, ans_to_ix) for q in questions]
    k = max([1, *(len(p) for p in pairs)])
    ix = np.zeros((len(questions), k), np.int64)
    score = np.zeros((len(questions), k), np.float32)
    for i, p in enumerate(pairs):
        for j, (a, s) in enumerate(p):
            ix[i, j], score[i, j] = a, s
    return ix, score
