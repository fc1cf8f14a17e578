"""`lsat extract` reuses a complete feature file only when it was made with the requested
settings: a file of another grid, backbone or channel count is one error, never kept."""

import os

import numpy as np
import pytest

from lsat.cli import main
from lsat.errors import LsatError
from lsat.features.backends import PixelsBackend
from lsat.features.extract import extract
from lsat.features.inputs import list_inputs
from lsat.features.store import FeatureStore, FeatureWriter


def _pixels(images, out, *flags):
    return ["extract", "--backend", "pixels", "--input", str(images), "--out", str(out), *flags]


def _state(path):
    with FeatureStore(path) as store:
        return store.content_sha256, os.stat(path).st_mtime_ns


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--grid", "4", "--cell-pixels", "2"], "grid 2 recorded, 4 requested"),
        (
            ["--grid", "2", "--cell-pixels", "3"],
            "backbone 'pixels(cell_pixels=2)' recorded, 'pixels(cell_pixels=3)' requested",
        ),
        (["--grid", "2", "--cell-pixels", "2", "--coords"], "channels 12 recorded, 14 requested"),
    ],
)
def test_complete_file_of_other_settings_is_refused(coco_images, tmp_path, capsys, flags, message):
    out = tmp_path / "f.h5"
    assert main(_pixels(coco_images, out, "--grid", "2", "--cell-pixels", "2")) == 0
    old = os.stat(out).st_mtime_ns - 86_400 * 10**9  # dated back a day: a rewrite would show
    os.utime(out, ns=(old, old))
    before = _state(out)
    capsys.readouterr()
    assert main(_pixels(coco_images, out, *flags)) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert str(out) in err and message in err and "--force" in err
    assert _state(out) == before  # untouched

    assert main([*_pixels(coco_images, out, *flags), "--force"]) == 0  # what the error says
    with FeatureStore(out) as store:
        assert store.backbone == PixelsBackend(2, int(flags[3]), "--coords" in flags).backbone
        assert store.grid == int(flags[1])
    capsys.readouterr()
    assert main(_pixels(coco_images, out, *flags)) == 0  # now the settings match: kept
    assert "already complete (6 images); nothing to do" in capsys.readouterr().out


def test_the_library_extract_refuses_it_too(coco_images, tmp_path):
    out = tmp_path / "f.h5"
    inputs = list_inputs(coco_images, PixelsBackend.suffixes, PixelsBackend.what)
    extract(PixelsBackend(2, 2), inputs, out, source="x", log=lambda _: None)
    with pytest.raises(LsatError, match=r"grid 2 recorded, 3 requested"):
        extract(PixelsBackend(3, 2), inputs, out, source="x", log=lambda _: None)
    assert extract(PixelsBackend(2, 2), inputs, out, source="x", log=lambda _: None) == out


def _complete(out, backbone, grid=2, channels=4):
    w = FeatureWriter(out, [1, 2], grid=grid, channels=channels, backbone=backbone, source="s")
    w.write([0, 1], np.ones((2, grid * grid, channels), np.float16))
    w.finish()


def test_export_settings_are_checked_without_loading_the_backbone(coco_images, tmp_path, capsys):
    """The export backend's recorded name (file + pre-processing) is compared before any
    model is loaded: these model files do not even exist."""
    out = tmp_path / "f.h5"
    _complete(out, "export:net.pt2+trar")
    argv = ["extract", "--backend", "export", "--input", str(coco_images), "--out", str(out)]
    argv += ["--grid", "2"]
    assert main([*argv, "--export-model", str(tmp_path / "net.pt2"), "--preprocess", "trar"]) == 0
    assert "already complete (2 images)" in capsys.readouterr().out
    assert main([*argv, "--export-model", str(tmp_path / "net.pt2"), "--preprocess", "clevr"]) == 2
    err = capsys.readouterr().err
    assert "backbone 'export:net.pt2+trar' recorded, 'export:net.pt2+clevr' requested" in err
    assert main([*argv, "--export-model", str(tmp_path / "other.pt2"), "--preprocess", "trar"]) == 2
    assert "'export:other.pt2+trar' requested" in capsys.readouterr().err


def test_imported_features_are_checked_for_grid_and_importer(tmp_path, capsys):
    out = tmp_path / "f.h5"
    _complete(out, "imported-npy")
    (tmp_path / "npy").mkdir()
    argv = ["extract", "--input", str(tmp_path / "npy"), "--out", str(out)]
    assert main([*argv, "--backend", "npy", "--grid", "2"]) == 0
    assert main([*argv, "--backend", "npy", "--grid", "3"]) == 2
    assert "grid 2 recorded, 3 requested" in capsys.readouterr().err
    assert main([*argv, "--backend", "npz", "--grid", "2"]) == 2
    assert "backbone 'imported-npy' recorded, 'imported-npz' requested" in capsys.readouterr().err


def test_channels_are_checked_on_their_own(coco_images, tmp_path, capsys):
    """A pixels file whose channel count is not the one its name implies (written by hand)."""
    out = tmp_path / "f.h5"
    _complete(out, "pixels(cell_pixels=2)", channels=5)
    assert main(_pixels(coco_images, out, "--grid", "2", "--cell-pixels", "2")) == 2
    err = capsys.readouterr().err
    assert "(channels 5 recorded, 12 requested)" in err
