"""The HDF5 store: round trip, resume bookkeeping, and readers refusing unfinished files."""

import pickle

import h5py
import numpy as np
import pytest

from lsat.errors import LsatError
from lsat.features import store as store_mod
from lsat.features.store import FeatureStore, FeatureWriter, partial_path


def _writer(out, ids=(3, 7, 11), grid=2, channels=5, **kw):
    return FeatureWriter(out, ids, grid=grid, channels=channels, backbone="b", source="s", **kw)


def test_round_trip_layout_and_reader(tmp_path):
    out = tmp_path / "f" / "train.h5"
    feats = np.arange(3 * 4 * 5, dtype=np.float16).reshape(3, 4, 5)
    w = _writer(out)
    w.write([0, 2], feats[[0, 2]])
    w.write([1], feats[[1]])
    assert w.finish() == out
    assert not partial_path(out).exists()
    with h5py.File(out) as f:
        assert f["features"].dtype == np.float16
        assert f["features"].chunks == (1, 4, 5)
        assert f["features"].compression is None
        assert f["image_ids"].dtype == np.int64
        assert "done" not in f
        assert f.attrs["format_version"] == 1 and bool(f.attrs["complete"])
    with FeatureStore(out) as store:
        assert store.image_ids.tolist() == [3, 7, 11]
        assert (store.grid, store.num_cells, store.channels) == (2, 4, 5)
        assert store.backbone == "b" and store.source == "s"
        assert 7 in store and 8 not in store and "x" not in store
        np.testing.assert_array_equal(store.get(11), feats[2])
        np.testing.assert_array_equal(store.get_many([11, 3, 11]), feats[[2, 0, 2]])
        np.testing.assert_array_equal(store.load_all(), feats)
        with pytest.raises(LsatError, match=r"image id 8 has no features in .*train\.h5"):
            store.get(8)


def test_resume_keeps_done_rows_and_restarts_on_other_settings(tmp_path):
    out = tmp_path / "x.h5"
    w = _writer(out)
    w.write([1], np.ones((1, 4, 5)))
    w.close()
    w = _writer(out)
    assert w.pending.tolist() == [0, 2] and w.note == ""
    w.close()
    w = _writer(out, ids=(3, 7, 12))
    assert w.pending.tolist() == [0, 1, 2] and "starting over" in w.note
    w.close()
    partial_path(out).write_bytes(b"not hdf5")
    w = _writer(out)
    assert w.pending.tolist() == [0, 1, 2] and "could not be opened" in w.note
    w.close()


def test_reader_refuses_partial_and_unmarked_files(tmp_path):
    out = tmp_path / "x.h5"
    w = _writer(out)
    w.write([0], np.zeros((1, 4, 5)))
    w.close()
    with pytest.raises(LsatError, match=r"x\.h5\.partial is an unfinished extraction"):
        FeatureStore(partial_path(out))
    with pytest.raises(LsatError, match=r"not found: .*x\.h5 \(an unfinished x\.h5\.partial"):
        FeatureStore(out)
    with h5py.File(tmp_path / "plain.h5", "w") as f:
        f["features"] = np.zeros((1, 4, 5), np.float16)
        f["image_ids"] = np.zeros(1, np.int64)
        f.attrs.update(grid=2, channels=5, backbone="b", source="s", format_version=1)
    with pytest.raises(LsatError, match=r"plain\.h5 has no completion mark"):
        FeatureStore(tmp_path / "plain.h5")
    (tmp_path / "junk.h5").write_bytes(b"junk")
    with pytest.raises(LsatError, match=r"junk\.h5 is not a readable HDF5 file"):
        FeatureStore(tmp_path / "junk.h5")


def test_writer_checks_batches_and_completion(tmp_path):
    w = _writer(tmp_path / "x.h5")
    with pytest.raises(LsatError, match=r"shape \(1, 4, 6\); expected \(1, 4, 5\)"):
        w.write([0], np.zeros((1, 4, 6)))
    with pytest.raises(LsatError, match="3 images still missing"):
        w.finish()
    w.close()
    with pytest.raises(LsatError, match="unique and sorted"):
        _writer(tmp_path / "y.h5", ids=(5, 5))


def test_store_pickles_for_dataloader_workers(tmp_path):
    out = tmp_path / "x.h5"
    w = _writer(out)
    w.write([0, 1, 2], np.full((3, 4, 5), 2.0))
    w.finish()
    store = FeatureStore(out)
    store.get(3)
    clone = pickle.loads(pickle.dumps(store))
    assert clone._file is None  # reopened lazily in the worker, not shared
    np.testing.assert_array_equal(clone.get(7), store.get(7))
    assert clone.row(11) == 2 and len(clone) == 3
    store.close()
    clone.close()


def test_open_retries_without_locking_only_where_locks_are_unsupported(tmp_path, monkeypatch):
    from lsat.features import store as store_module

    real = h5py.File
    calls = []

    def fake(path, mode, **kw):
        calls.append(kw)
        if "locking" not in kw:
            raise OSError(message)
        return real(path, mode, **kw)

    monkeypatch.setattr(store_module.h5py, "File", fake)
    message = "unable to lock file, errno = 38, error message = 'Function not implemented'"
    store_module.open_h5(tmp_path / "a.h5", "w").close()
    assert calls == [{}, {"locking": False}]
    message = "unable to lock file, errno = 11, error message = 'Resource temporarily unavailable'"
    with pytest.raises(OSError, match="errno = 11"):
        store_module.open_h5(tmp_path / "a.h5", "r")


def _many(tmp_path, n=40):
    out = tmp_path / "many.h5"
    feats = np.random.default_rng(0).standard_normal((n, 4, 5)).astype(np.float16)
    w = _writer(out, ids=range(1, n + 1))
    w.write(range(n), feats)
    w.finish()
    return out, feats


def test_parallel_chunk_reads_equal_hdf5_reads(tmp_path, monkeypatch):
    """Rows read by several threads with os.preadv (more rows than READ_THREADS) are the
    bytes HDF5 itself reads, wherever they land in the output; without chunk_iter the
    per-chunk HDF5 path gives the same."""
    out, feats = _many(tmp_path)
    rows = [0, 3, 4, 9, 17, 18, 25, 33, 38, 39, 2, 5]
    positions = list(range(len(rows)))[::-1]
    expected = np.zeros((len(rows), 4, 5), np.float16)
    expected[positions] = feats[rows]
    with FeatureStore(out) as store:
        assert len(rows) > store_mod.READ_THREADS
        got = np.zeros_like(expected)
        store.read_into(rows, got, positions)
        assert store._offsets is not None and (store._offsets > 0).all()
        np.testing.assert_array_equal(got, expected)
    monkeypatch.setattr(FeatureStore, "_chunk_offsets", lambda self, ds: None)
    with FeatureStore(out) as store:
        got = np.zeros_like(expected)
        store.read_into(rows, got, positions)
        np.testing.assert_array_equal(got, expected)


def test_short_chunk_read_is_one_clear_error(tmp_path):
    out, _ = _many(tmp_path, n=12)
    with FeatureStore(out) as store:
        offsets = store._chunk_offsets(store._dataset())
        offsets[7] = out.stat().st_size - 10  # as if the file had been cut short
        with pytest.raises(LsatError, match=r"many\.h5: row 7 read 10 of 40 bytes"):
            store.read_into(list(range(12)), np.zeros((12, 4, 5), np.float16), range(12))
