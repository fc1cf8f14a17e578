"""Small input folders written by the tests themselves (images, official-style arrays)."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image


def write_images(folder: Path, names: list[str], size=(24, 16), seed=0) -> list[np.ndarray]:
    """Random RGB images (width, height) under ``folder``; returns their pixel arrays."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    arrays = []
    for name in names:
        arr = rng.integers(1, 255, (size[1], size[0], 3), dtype=np.uint8)
        Image.fromarray(arr).save(folder / name)
        arrays.append(arr)
    return arrays


@pytest.fixture
def make_images():
    """The ``write_images`` helper, as a fixture (test modules do not import conftest)."""
    return write_images


@pytest.fixture
def coco_images(tmp_path):
    """Six PNG images named the COCO way, ids 1..6 (written out of order)."""
    names = [f"COCO_train2014_{i:012d}.png" for i in (4, 1, 6, 2, 5, 3)]
    write_images(tmp_path / "images", names)
    return tmp_path / "images"
