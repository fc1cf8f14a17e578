"""Pixels extraction and the official .npy/.npz importers, through `lsat extract`."""

import numpy as np
import pytest
from PIL import Image

from lsat.cli import main
from lsat.errors import LsatError
from lsat.features.inputs import list_inputs, parse_image_id
from lsat.features.store import FeatureStore


def test_parse_image_id_styles():
    assert parse_image_id("COCO_val2014_000000000042.jpg.npy") == 42
    assert parse_image_id("COCO_test2015_000000581929.jpg") == 581929
    assert parse_image_id("CLEVR_train_000123.png") == 123
    assert parse_image_id("CLEVR_val_000007.npz") == 7
    assert parse_image_id("9876.npy") == 9876
    with pytest.raises(LsatError, match=r"'cat\.png'.*COCO_<set>_<12 digits>"):
        parse_image_id("cat.png")


def test_list_inputs_errors(tmp_path):
    with pytest.raises(LsatError, match=r"input folder not found: .*nope \(it should hold x\)"):
        list_inputs(tmp_path / "nope", (".png",), "x")
    (tmp_path / "a").mkdir()
    with pytest.raises(LsatError, match=r"holds no \.png files"):
        list_inputs(tmp_path / "a", (".png",), "x")
    np.save(tmp_path / "a" / "7.npy", np.zeros(1))
    np.save(tmp_path / "a" / "COCO_x_000000000007.jpg.npy", np.zeros(1))
    with pytest.raises(LsatError, match="both give image id 7"):
        list_inputs(tmp_path / "a", (".npy",), "x")


def test_pixels_extraction_cells_and_order(coco_images, tmp_path, capsys):
    out = tmp_path / "f.h5"
    argv = ["extract", "--backend", "pixels", "--input", str(coco_images), "--out", str(out)]
    assert main([*argv, "--grid", "2", "--cell-pixels", "3", "--batch-size", "4"]) == 0
    with FeatureStore(out) as store:
        assert store.image_ids.tolist() == [1, 2, 3, 4, 5, 6]
        assert (store.grid, store.channels) == (2, 27)
        assert store.backbone == "pixels(cell_pixels=3)"
        img = Image.open(coco_images / "COCO_train2014_000000000005.png").convert("RGB")
        pix = np.asarray(img.resize((6, 6), Image.Resampling.BILINEAR)) / 255.0
        feat = store.get(5).astype(np.float32)
        # cell (1, 0) = row-major cell 2; channel (dy*p + dx)*3 + c
        for dy in range(3):
            for dx in range(3):
                for c in range(3):
                    expected = (pix[3 + dy, dx, c] - 0.5) / 0.25  # centred on mid-grey
                    assert abs(feat[2, (dy * 3 + dx) * 3 + c] - expected) < 4e-3
    capsys.readouterr()
    assert main([*argv, "--grid", "2", "--cell-pixels", "3"]) == 0
    assert "already complete (6 images); nothing to do" in capsys.readouterr().out


def test_pixels_coords_append_cell_centres(coco_images, tmp_path):
    out = tmp_path / "f.h5"
    argv = ["extract", "--backend", "pixels", "--input", str(coco_images), "--out", str(out)]
    assert main([*argv, "--grid", "2", "--cell-pixels", "1", "--coords"]) == 0
    with FeatureStore(out) as store:
        assert store.channels == 3 + 2
        assert store.backbone == "pixels(cell_pixels=1, coords)"
        xy = store.get(5).astype(np.float32)[:, 3:]
    # row-major cells of a 2×2 grid: (x, y) centres in [-1, 1]
    assert xy.tolist() == [[-0.5, -0.5], [0.5, -0.5], [-0.5, 0.5], [0.5, 0.5]]


def test_npy_import_both_name_styles(tmp_path):
    src = tmp_path / "feats"
    src.mkdir()
    rng = np.random.default_rng(1)
    arrays = {i: rng.standard_normal((64, 16)).astype(np.float16) for i in (9, 42, 100)}
    np.save(src / "9.npy", arrays[9])
    np.save(src / "COCO_val2014_000000000042.jpg.npy", arrays[42])
    np.save(src / "COCO_val2014_000000000100.jpg.npy", arrays[100])
    out = tmp_path / "val2014.h5"
    assert main(["extract", "--backend", "npy", "--input", str(src), "--out", str(out)]) == 0
    with FeatureStore(out) as store:
        assert store.image_ids.tolist() == [9, 42, 100]
        assert (store.grid, store.channels) == (8, 16)
        for i, arr in arrays.items():
            np.testing.assert_array_equal(store.get(i), arr)


def test_npy_bad_shape_names_file_and_shapes(tmp_path, capsys):
    src = tmp_path / "feats"
    src.mkdir()
    np.save(src / "1.npy", np.zeros((64, 16), np.float16))
    np.save(src / "2.npy", np.zeros((100, 16), np.float16))
    argv = ["extract", "--backend", "npy", "--input", str(src), "--out", str(tmp_path / "o.h5")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "2.npy has shape (100, 16); expected (64, 16) for a 8×8 grid" in err
    assert main([*argv, "--grid", "16"]) == 2
    assert "1.npy has shape (64, 16); expected (256, C) for a 16×16 grid" in capsys.readouterr().err
    assert not (tmp_path / "o.h5").exists()


@pytest.mark.parametrize("layout", ["CSS", "NC"])
def test_npz_import(tmp_path, layout):
    src = tmp_path / "clevr"
    src.mkdir()
    rng = np.random.default_rng(2)
    cells = {i: rng.standard_normal((196, 8)).astype(np.float16) for i in (0, 1)}
    for i, x in cells.items():
        arr = x.T.reshape(8, 14, 14) if layout == "CSS" else x
        np.savez_compressed(src / f"CLEVR_val_{i:06d}.npz", x=arr)
    out = tmp_path / "val.h5"
    argv = ["extract", "--backend", "npz", "--grid", "14", "--input", str(src), "--out", str(out)]
    assert main(argv) == 0
    with FeatureStore(out) as store:
        assert store.image_ids.tolist() == [0, 1] and store.channels == 8
        np.testing.assert_array_equal(store.load_all(), np.stack([cells[0], cells[1]]))


def test_npz_wrong_key_and_bad_image(tmp_path, capsys, make_images):
    src = tmp_path / "clevr"
    src.mkdir()
    np.savez(src / "3.npz", a=np.zeros((196, 8)), b=np.zeros(1))
    argv = ["extract", "--backend", "npz", "--grid", "14", "--input", str(src)]
    assert main([*argv, "--out", str(tmp_path / "o.h5")]) == 2
    assert "3.npz has arrays ['a', 'b']; expected the features under key 'x'" in (
        capsys.readouterr().err
    )
    make_images(tmp_path / "img", ["5.png"])
    (tmp_path / "img" / "6.png").write_bytes(b"not a png")
    assert main(["extract", "--input", str(tmp_path / "img"), "--out", str(tmp_path / "p.h5")]) == 2
    assert "cannot read image" in capsys.readouterr().err


def test_config_mode_paths_and_errors(tmp_path, capsys, make_images):
    raw = tmp_path / "raw"
    make_images(raw / "images" / "val", [f"CLEVR_val_{i:06d}.png" for i in range(3)])
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        f"results_dir: {tmp_path / 'res'}\n"
        "datasets:\n"
        f"  d: {{format: clevr, raw_dir: {raw}, features: {{backend: pixels, grid: 4}}}}\n"
        f"  v: {{format: vqa, raw_dir: {raw}, features: {{backend: npy}}}}\n"
    )
    base = ["extract", "--config", str(cfg)]
    assert main([*base, "--dataset", "d", "--image-set", "val", "--cell-pixels", "2"]) == 0
    with FeatureStore(tmp_path / "res" / "d" / "features" / "val.h5") as store:
        assert store.image_ids.tolist() == [0, 1, 2] and store.channels == 12
    assert main([*base, "--dataset", "d", "--image-set", "train"]) == 2
    assert "input folder not found" in capsys.readouterr().err
    assert main([*base, "--dataset", "d", "--image-set", "train2014"]) == 2
    assert "unknown image set 'train2014'" in capsys.readouterr().err
    assert main([*base, "--dataset", "v", "--image-set", "val2014"]) == 2
    assert "datasets.v.features.source_dir must name" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--grid", "0"], "features.grid must be at least 1; got 0"),
        (["--cell-pixels", "0"], "features.cell_pixels must be at least 1; got 0"),
        (["--batch-size", "0"], "batch size must be at least 1; got 0"),
        (["--image-set", "val"], "--dataset and --image-set need --config"),
        ([], "without --config, give --input FOLDER and --out FILE.h5"),
    ],
)
def test_bad_flags(coco_images, tmp_path, capsys, flags, message):
    io = ["--input", str(coco_images), "--out", str(tmp_path / "o.h5")] if flags else []
    assert main(["extract", *io, *flags]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "o.h5").exists()


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (np.nan, "contains NaN or infinite values"),
        (np.inf, "contains NaN or infinite values"),
        (70000.0, "values up to 70000, beyond float16's largest 65504"),
    ],
)
def test_npy_non_finite_or_float16_overflow_is_refused(tmp_path, capsys, value, message):
    src = tmp_path / "feats"
    src.mkdir()
    np.save(src / "1.npy", np.zeros((64, 16), np.float32))
    bad = np.zeros((64, 16), np.float32)
    bad[3, 5] = value
    np.save(src / "COCO_val2014_000000000042.jpg.npy", bad)
    argv = ["extract", "--backend", "npy", "--input", str(src), "--out", str(tmp_path / "o.h5")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "image 42:" in err and "000000000042.jpg.npy" in err and message in err
    assert not (tmp_path / "o.h5").exists()


def test_zero_byte_npy_is_named(tmp_path, capsys):
    src = tmp_path / "feats"
    src.mkdir()
    np.save(src / "1.npy", np.zeros((64, 16), np.float16))
    (src / "2.npy").write_bytes(b"")
    argv = ["extract", "--backend", "npy", "--input", str(src), "--out", str(tmp_path / "o.h5")]
    assert main(argv) == 2
    assert "2.npy as a .npy array: the file is empty (0 bytes)" in capsys.readouterr().err


def test_extraction_refuses_non_finite_backbone_output(tmp_path):
    from pathlib import Path

    from lsat.features.extract import check_finite

    out = np.zeros((3, 4, 2), np.float32)
    out[2, 1, 0] = 70000.0
    with np.errstate(over="ignore"):
        cells = out.astype(np.float16)  # a backbone's float32 output cast to float16: inf
    with pytest.raises(LsatError, match=r"image 7 \(c\.png\): its features contain NaN or inf"):
        check_finite(cells, [5, 6, 7], [Path("a.png"), Path("b.png"), Path("c.png")])
    check_finite(cells[:2], [5, 6], [Path("a.png"), Path("b.png")])
