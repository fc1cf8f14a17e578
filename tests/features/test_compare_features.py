"""lsat compare-features: our HDF5 against released-style .npy folders, per image."""

import json

import numpy as np
import pytest

from lsat.cli import main
from lsat.features.compare import compare, cosine


def _npy_folder(folder, arrays, coco_names=True):
    folder.mkdir(parents=True)
    for image_id, arr in arrays.items():
        name = f"COCO_val2014_{image_id:012d}.jpg.npy" if coco_names else f"{image_id}.npy"
        np.save(folder / name, arr)


def test_h5_against_npy_equal_then_perturbed(tmp_path, capsys):
    rng = np.random.default_rng(0)
    arrays = {i: rng.standard_normal((64, 6)).astype(np.float16) for i in (1, 2, 3, 4)}
    released = tmp_path / "released"
    _npy_folder(released, arrays)
    h5 = tmp_path / "ours.h5"
    argv = ["extract", "--backend", "npy", "--input", str(released), "--out", str(h5)]
    assert main([*argv, "--grid", "8"]) == 0
    capsys.readouterr()

    same = compare(h5, released)
    assert (same["compared"], same["only_in_a"], same["only_in_b"]) == (4, 0, 0)
    assert same["cosine_min"] == pytest.approx(1.0) and same["max_abs_diff"] == 0.0

    changed = dict(arrays)
    changed[3] = (arrays[3].astype(np.float32) * -1).astype(np.float16)  # opposite direction
    changed[5] = arrays[1]  # only in B
    del changed[4]  # only in A
    other = tmp_path / "other"
    _npy_folder(other, changed, coco_names=False)
    out = tmp_path / "cmp.json"
    assert main(["compare-features", str(h5), str(other), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "compared 3 images (1 only in A, 1 only in B)" in text
    assert "image 3: cosine -1.000000" in text
    result = json.loads(out.read_text())
    by_id = {r["image_id"]: r for r in result["per_image"]}
    assert by_id[1]["cosine"] == pytest.approx(1.0) and by_id[1]["max_abs_diff"] == 0.0
    expected = float(np.abs(2 * arrays[3].astype(np.float32)).max())
    assert by_id[3]["max_abs_diff"] == pytest.approx(expected, rel=1e-3)


def test_shape_mismatch_and_nothing_in_common(tmp_path, capsys):
    _npy_folder(tmp_path / "a", {1: np.ones((64, 4), np.float16)})
    _npy_folder(tmp_path / "b", {1: np.ones((16, 4), np.float16)})
    _npy_folder(tmp_path / "c", {9: np.ones((64, 4), np.float16)})
    assert main(["compare-features", str(tmp_path / "a"), str(tmp_path / "b")]) == 2
    assert "image 1" in capsys.readouterr().err
    assert main(["compare-features", str(tmp_path / "a"), str(tmp_path / "c")]) == 2
    assert "no image id in common" in capsys.readouterr().err
    assert main(["compare-features", str(tmp_path / "a"), str(tmp_path / "none")]) == 2
    assert "feature source not found" in capsys.readouterr().err


def test_cosine_edge_cases():
    z = np.zeros(4)
    assert cosine(z, z) == 1.0 and cosine(z, np.ones(4)) == 0.0
