"""Extraction backends: each turns a batch of input files into (B, N, C) float16 cells.

A backend splits its work in two so the extraction loop can overlap them: ``read(path)``
(thread-safe, per file: decode, resize, check) runs in a thread pool one batch ahead, and
``compute(items, paths)`` turns a batch of read items into grid cells. ``probe(path)``
returns the channel count C before the output file is created.

- ``pixels``: the built-in, weight-free backbone for the demo world (RGB patches);
- ``npy`` / ``npz``: import of officially released per-image grid features;
- ``export``: any ``torch.export`` backbone (``.pt2``) + TRAR or CLEVR grid pre-processing.
"""

from __future__ import annotations

import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from PIL import Image, UnidentifiedImageError

from lsat.errors import LsatError
from lsat.features.inputs import IMAGE_SUFFIXES

IMAGES_WHAT = "the .png/.jpg images of the image set, named COCO_<set>_<12 digits>, " + (
    "CLEVR_<set>_<6 digits> or <image id>"
)
NPY_WHAT = (
    "official per-image grid features, one float16 (S*S, C) .npy per image named "
    "<image_id>.npy or COCO_<set>_<12-digit id>.jpg.npy"
)
NPZ_WHAT = (
    "CLEVR grid features, one .npz per image (array 'x' of shape (C, S, S) or (S*S, C)) "
    "named CLEVR_<set>_<6 digits>.npz or <image_index>.npz"
)
# Input size of the TRAR pre-processing (grid-feats-vqa test sizes): shorter side 600,
# longer side at most 1000, aspect ratio kept.
TRAR_MIN_SIZE = 600
TRAR_MAX_SIZE = 1000
F16_MAX = float(np.finfo(np.float16).max)  # 65504


class Backend(Protocol):
    """What the extraction loop needs from a backend."""

    grid: int
    backbone: str
    suffixes: tuple[str, ...]
    what: str

    def probe(self, path: Path) -> int: ...

    def read(self, path: Path) -> Any: ...

    def compute(self, items: list[Any], paths: Sequence[Path]) -> np.ndarray: ...


def open_rgb(path: Path) -> Image.Image:
    """Decode an image file as RGB; LsatError naming the file when it is not an image."""
    try:
        with Image.open(path) as img:
            return img.convert("RGB")
    except (UnidentifiedImageError, OSError) as err:
        raise LsatError(f"cannot read image {path}: {err}") from None


def pixels_channels(cell_pixels: int, coords: bool) -> int:
    """Channels C of the pixels backbone: 3·p² colour values, plus 2 with cell coordinates."""
    return 3 * int(cell_pixels) ** 2 + (2 if coords else 0)


def pixels_backbone(cell_pixels: int, coords: bool) -> str:
    """The ``backbone`` attribute the pixels backbone records, e.g. ``pixels(cell_pixels=8)``."""
    return f"pixels(cell_pixels={int(cell_pixels)}{', coords' if coords else ''})"


def export_backbone(model_path: str | Path, preprocess: str) -> str:
    """The ``backbone`` attribute of the export backend: its ``.pt2`` file name and the
    grid pre-processing, e.g. ``export:resnext101_conv5.pt2+trar`` (known without loading
    the model, so a complete file can be checked against the settings cheaply)."""
    return f"export:{Path(model_path).name}+{preprocess}"


class PixelsBackend:
    """Weight-free backbone: each grid cell is its p×p RGB patch, centred on mid-grey.

    The image is resized (Pillow bilinear, deterministic) to (S·p)×(S·p); cell (i, j) is
    row-major cell i·S + j and its first 3·p² channels are ordered (dy, dx, rgb): channel
    (dy·p + dx)·3 + c holds colour c of the patch pixel at row dy, column dx, as
    (v/255 − 0.5)/0.25. Centring matters: raw [0, 1] values put every cell far from the
    origin along one shared direction, and gradient descent then needs thousands of steps
    to find the small differences between cells. No 8-bit value maps to 0, so a cell is
    never mistaken for padding.

    ``coords`` appends each cell's centre (x, y) in [−1, 1] as two more channels, the way
    CoordConv does: MCAN-family models give grid cells no position embedding, and a deep CNN
    encodes position in its features where raw pixels do not.
    """

    suffixes = IMAGE_SUFFIXES
    what = IMAGES_WHAT
    MEAN, STD = 0.5, 0.25

    def __init__(self, grid: int, cell_pixels: int = 8, coords: bool = False):
        self.grid, self.cell_pixels, self.coords = int(grid), int(cell_pixels), bool(coords)
        self.backbone = pixels_backbone(self.cell_pixels, self.coords)
        self.channels = pixels_channels(self.cell_pixels, self.coords)
        centres = (np.arange(self.grid) + 0.5) / self.grid * 2 - 1
        ys, xs = np.meshgrid(centres, centres, indexing="ij")
        self._xy = np.stack([xs, ys], axis=-1).reshape(self.grid**2, 2)

    def probe(self, path: Path) -> int:
        return self.channels

    def read(self, path: Path) -> np.ndarray:
        side = self.grid * self.cell_pixels
        img = open_rgb(path).resize((side, side), Image.Resampling.BILINEAR)
        return np.asarray(img, dtype=np.uint8)

    def compute(self, items: list[np.ndarray], paths: Sequence[Path]) -> np.ndarray:
        s, p = self.grid, self.cell_pixels
        x = np.stack(items).reshape(len(items), s, p, s, p, 3).transpose(0, 1, 3, 2, 4, 5)
        cells = x.reshape(len(items), s * s, 3 * p * p).astype(np.float32)
        cells = (cells / 255.0 - self.MEAN) / self.STD
        if self.coords:
            xy = np.broadcast_to(self._xy, (len(items), s * s, 2))
            cells = np.concatenate([cells, xy], axis=-1)
        return cells.astype(np.float16)


class _ArrayImport:
    """Shared checks of the npy/npz importers: every file (S², C) with one C for all."""

    grid: int
    channels: int | None = None

    def _check(self, arr: np.ndarray, path: Path) -> np.ndarray:
        n = self.grid * self.grid
        c = arr.shape[-1] if arr.ndim == 2 else None
        if arr.ndim != 2 or arr.shape[0] != n or (self.channels not in (None, c)):
            want = f"({n}, {self.channels if self.channels is not None else 'C'})"
            raise LsatError(
                f"{path} has shape {tuple(arr.shape)}; expected {want} for a "
                f"{self.grid}×{self.grid} grid (features.grid)"
            )
        if not np.all(np.isfinite(arr)):
            raise LsatError(f"{path} contains NaN or infinite values")
        peak = float(np.abs(arr).max()) if arr.size else 0.0
        if peak > F16_MAX:
            raise LsatError(
                f"{path} has values up to {peak:.6g}, beyond float16's largest {F16_MAX:.0f} "
                "(they would become inf in the feature file): rescale the features"
            )
        return arr.astype(np.float16, copy=False)

    def probe(self, path: Path) -> int:
        arr = self.read(path)
        self.channels = int(arr.shape[1])
        return self.channels

    def read(self, path: Path) -> np.ndarray:  # pragma: no cover - overridden
        raise NotImplementedError

    def compute(self, items: list[np.ndarray], paths: Sequence[Path]) -> np.ndarray:
        return np.stack(items)


def _why(err: BaseException, path: Path) -> str:
    if path.is_file() and path.stat().st_size == 0:
        return "the file is empty (0 bytes)"
    return str(err) or type(err).__name__


class NpyBackend(_ArrayImport):
    """Official TRAR grid features: one (S², C) float16 ``.npy`` per image."""

    suffixes: tuple[str, ...] = (".npy",)
    what = NPY_WHAT
    backbone = "imported-npy"

    def __init__(self, grid: int):
        self.grid = int(grid)

    def read(self, path: Path) -> np.ndarray:
        try:
            arr = np.load(path, allow_pickle=False)
        except (OSError, ValueError, EOFError) as err:
            raise LsatError(f"cannot read {path} as a .npy array: {_why(err, path)}") from None
        return self._check(np.asarray(arr), path)


class NpzBackend(_ArrayImport):
    """CLEVR grid features: ``.npz`` with array ``x`` (C, S, S) or (S², C).

    openvqa's CLEVR releases store ``x``; a file holding a single array under another key
    is accepted too. (C, S, S) is recognised by its two equal trailing sides S = grid.
    """

    suffixes: tuple[str, ...] = (".npz",)
    what = NPZ_WHAT
    backbone = "imported-npz"

    def __init__(self, grid: int):
        self.grid = int(grid)

    def read(self, path: Path) -> np.ndarray:
        try:
            with np.load(path, allow_pickle=False) as z:
                keys = list(z.keys())
                if "x" in keys:
                    arr = z["x"]
                elif len(keys) == 1:
                    arr = z[keys[0]]
                else:
                    raise LsatError(
                        f"{path} has arrays {keys}; expected the features under key 'x'"
                    )
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
            raise LsatError(f"cannot read {path} as a .npz archive: {_why(err, path)}") from None
        s = self.grid
        if arr.ndim == 3 and arr.shape[1:] == (s, s):
            arr = arr.reshape(arr.shape[0], s * s).T
        return self._check(np.asarray(arr), path)
