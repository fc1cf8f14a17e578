"""Feature banks that scale: read in place, checked against the memory limits first."""

from __future__ import annotations

import dataclasses
import threading
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
from test_dataset_join import _build, world  # noqa: F401  (the shared fixture)

from lsat.data import memory
from lsat.features.store import FeatureStore
from lsat.engine.batches import BatchSource
from lsat.engine.prefetch import prefetched
from lsat.errors import LsatError


def _with_train(ds, **train):
    return dataclasses.replace(ds, train=dataclasses.replace(ds.train, **train))


def test_bank_is_read_in_place_and_equals_the_files(world, monkeypatch):  # noqa: F811
    _, d, _ = world
    disk = _build(d, ["train", "vg"])  # vg's images are in two files
    expected = np.stack([disk[i]["img_feat"] for i in range(len(disk))]).astype(np.float16)
    # Whole-file reads (the old path: file + copy = twice the bank) must not happen.
    monkeypatch.setattr(FeatureStore, "load_all", lambda self: pytest.fail("load_all called"))
    ram = _build(d, ["train", "vg"], residency="ram")
    np.testing.assert_array_equal(ram.feature_bank()[ram.image_row], expected)
    assert ram.bank_bytes == ram.feature_bank().nbytes
    ram.release_bank()
    np.testing.assert_array_equal(ram.read_batch([0, 3])["img_feat"], expected[[0, 3]])


def test_read_into_handles_chunked_compressed_files(tmp_path):
    """Files not in the writer's raw-chunk layout are read with selections, same values."""
    path = tmp_path / "f.h5"
    feats = np.random.default_rng(0).standard_normal((5, 4, 3)).astype(np.float16)
    with h5py.File(path, "w") as f:
        f.create_dataset("features", data=feats, chunks=(2, 4, 3), compression="gzip")
        f.create_dataset("image_ids", data=np.arange(10, 15))
        f.attrs.update(grid=2, channels=3, backbone="t", source="t", format_version=1)
        f.attrs["complete"] = True
    out = np.zeros((3, 4, 3), np.float16)
    with FeatureStore(path) as store:
        store.read_into([4, 0, 2], out, [0, 2, 1])
    np.testing.assert_array_equal(out, feats[[4, 2, 0]])


def test_slurm_limit_too_small_falls_back_to_disk_with_a_warning(world, monkeypatch, capsys):  # noqa: F811
    _, d, _ = world
    monkeypatch.setenv("SLURM_MEM_PER_NODE", "1")  # 1 MB: no bank fits
    room, limit = memory.available_memory()
    assert room is not None and room < 2**20 and "Slurm" in limit
    data = _build(d, ["train"], residency="ram")
    assert data.residency == "disk" and data._bank is None
    err = capsys.readouterr().err
    assert "warning" in err and "reading them from disk" in err and "Slurm" in err
    source = BatchSource(data, "ram", device=__import__("torch").device("cpu"))
    assert source.residency == "disk"
    batch = next(source.batches([np.arange(4)]))
    assert batch["img_feat"].shape == (4, 16, data.channels)


def test_residency_fallback_error_names_both_sizes(world, monkeypatch):  # noqa: F811
    _, d, _ = world
    monkeypatch.setenv("SLURM_MEM_PER_NODE", "1")
    with pytest.raises(LsatError, match=r"need 0\.00 GiB .* only 0\.00 GiB is available .*Slurm"):
        _build(_with_train(d, residency_fallback="error"), ["train"], residency="ram")


def test_cgroup_v1_and_v2_limits_are_read(tmp_path):
    v1 = tmp_path / "memory"
    v1.mkdir()
    (v1 / "memory.limit_in_bytes").write_text(f"{3 * 2**30}\n")
    (v1 / "memory.usage_in_bytes").write_text(f"{2**30}\n")
    assert memory._cgroup_room(tmp_path) == 2 * 2**30
    entries = Path("/proc/self/cgroup").read_text().splitlines()
    v2 = next((e.split(":", 2)[2] for e in entries if e.startswith("0::")), None)
    if v2 is None:
        pytest.skip("this process has no cgroup v2 entry")
    folder = tmp_path / v2.lstrip("/")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "memory.max").write_text(f"{5 * 2**30}\n")
    (folder / "memory.current").write_text(f"{2**30}\n")
    assert memory._cgroup_room(tmp_path) == 4 * 2**30  # v2 wins over v1
    (folder / "memory.max").write_text("max\n")  # unlimited v2: the v1 files decide
    assert memory._cgroup_room(tmp_path) == 2 * 2**30


def test_prefetch_keeps_order_raises_in_place_and_stops_early():
    assert list(prefetched(lambda k: k * k, range(50), depth=3)) == [k * k for k in range(50)]

    def boom(k):
        if k == 5:
            raise ValueError("bad batch 5")
        return k

    got = []
    with pytest.raises(ValueError, match="bad batch 5"):
        for item in prefetched(boom, range(10)):
            got.append(item)
    assert got == [0, 1, 2, 3, 4]

    reads = []
    it = prefetched(lambda k: reads.append(k) or k, range(10_000), depth=2)
    assert next(it) == 0
    it.close()  # the consumer leaves: the thread stops after at most a few reads
    time.sleep(0.05)
    assert len(reads) < 10 and not any(t.name == "lsat-prefetch" for t in threading.enumerate())


def test_gpu_bank_is_uploaded_in_chunks_never_whole_on_the_host(world, monkeypatch):  # noqa: F811
    """`gpu` residency: the dataset does not load the host bank; the engine allocates the
    bank on the device and fills it from two chunk-sized buffers (the device here is the
    CPU: the chunking is the same, the copies synchronous). Same values as the ram bank."""
    import torch

    from lsat.engine import batches

    _, d, _ = world
    expected = _build(d, ["train", "vg"], residency="ram").feature_bank()
    data = _build(d, ["train", "vg"], residency="gpu")
    assert data._bank is None and data.bank_shape == expected.shape
    monkeypatch.setattr(type(data), "feature_bank", lambda self: pytest.fail("host bank built"))
    spans: list[tuple[int, int]] = []
    real = type(data).read_bank_rows

    def counted(self, start, stop, out):
        spans.append((start, stop))
        real(self, start, stop, out)

    monkeypatch.setattr(type(data), "read_bank_rows", counted)
    row_bytes = 2 * data.num_cells * data.channels
    monkeypatch.setattr(batches, "UPLOAD_CHUNK", 3 * row_bytes)
    bank = batches.upload_bank(data, data.bank_shape, torch.device("cpu"), 3 * row_bytes)
    np.testing.assert_array_equal(bank.numpy(), expected)
    assert max(b - a for a, b in spans) == 3 and spans[0][0] == 0
    assert [a for a, _ in spans] == list(range(0, len(expected), 3))
    assert data._bank is None  # the host never held the bank
    spans.clear()
    chosen = batches._bank_tensor(data, "gpu", torch.device("cpu"))  # the engine's choice
    np.testing.assert_array_equal(chosen.numpy(), expected)
    assert spans and max(b - a for a, b in spans) == 3
