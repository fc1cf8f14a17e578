"""run.py's preparation keeps an existing feature file only when the config made it."""

from __future__ import annotations

import numpy as np
import pytest

from lsat.config import dataset_config, validate_config
from lsat.engine.prepare import plan
from lsat.errors import LsatError
from lsat.features.store import FeatureWriter


def _ds(tmp_path):
    cfg = validate_config(
        {
            "results_dir": str(tmp_path / "results"),
            "datasets": {
                "demo": {
                    "format": "vqa",
                    "raw_dir": str(tmp_path / "raw"),
                    "features": {"backend": "pixels", "grid": 2, "cell_pixels": 2},
                }
            },
        }
    )
    return dataset_config(cfg, "demo")


def _write(path, grid, backbone, channels):
    w = FeatureWriter(path, [1, 2], grid=grid, channels=channels, backbone=backbone, source="s")
    w.write([0, 1], np.ones((2, grid * grid, channels), np.float16))
    w.finish()


def test_existing_features_of_the_config_are_kept(tmp_path):
    ds = _ds(tmp_path)
    assert "train2014 features" in [s[0] for s in plan(ds, ["train2014"])]  # missing
    _write(ds.paths.features("train2014"), 2, "pixels(cell_pixels=2)", 12)
    assert "train2014 features" not in [s[0] for s in plan(ds, ["train2014"])]


def test_existing_features_of_other_settings_are_one_error(tmp_path):
    ds = _ds(tmp_path)
    path = ds.paths.features("train2014")
    _write(path, 4, "pixels(cell_pixels=2)", 12)
    with pytest.raises(LsatError, match=r"grid 4 recorded, 2 requested") as err:
        plan(ds, ["train2014"])
    assert str(path) in str(err.value) and "delete it" in str(err.value)
