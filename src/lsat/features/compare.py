"""``lsat compare-features A B``: are regenerated grid features the released ones?

A user who re-extracts TRAR's features (``export`` backend, ``trar`` preprocess) wants to
know whether they match the released ``.npy`` files before training on them. Each source is
our HDF5 feature file or a folder of per-image ``.npy`` files (either official name style);
the images both hold are compared cell by cell: cosine similarity of the flattened (S², C)
arrays and the largest absolute difference, per image, then summarised.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from lsat.errors import LsatError
from lsat.features.backends import NPY_WHAT
from lsat.features.inputs import list_inputs
from lsat.features.store import FeatureStore


class _Source:
    """Image id → (S², C) float32 array, from an HDF5 file or a folder of .npy files."""

    def __init__(self, path: Path):
        self.path = path
        if path.is_dir():
            self.files = dict(list_inputs(path, (".npy",), NPY_WHAT))
            self.store = None
        elif path.is_file():
            self.store = FeatureStore(path)
            self.files = {}
        else:
            raise LsatError(f"feature source not found: {path} (an .h5 file or a .npy folder)")

    def ids(self) -> set[int]:
        if self.store is not None:
            return {int(i) for i in self.store.image_ids}
        return set(self.files)

    def get(self, image_id: int) -> np.ndarray:
        if self.store is not None:
            arr = self.store.get(image_id)
        else:
            try:
                arr = np.load(self.files[image_id], allow_pickle=False)
            except (OSError, ValueError, EOFError) as err:
                raise LsatError(f"cannot read {self.files[image_id]}: {err}") from None
        return np.asarray(arr, dtype=np.float32)


def _pairs(a: _Source, b: _Source, ids: list[int]) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    for image_id in ids:
        x, y = a.get(image_id), b.get(image_id)
        if x.shape != y.shape:
            raise LsatError(
                f"image {image_id}: {a.path} has shape {x.shape} but {b.path} {y.shape} "
                "(another grid or channel count)"
            )
        yield image_id, x, y


def cosine(x: np.ndarray, y: np.ndarray) -> float:
    """Cosine similarity of two arrays as flat vectors (1.0 when both are all zero)."""
    u, v = x.ravel().astype(np.float64), y.ravel().astype(np.float64)
    nu, nv = np.linalg.norm(u), np.linalg.norm(v)
    if nu == 0 and nv == 0:
        return 1.0
    if nu == 0 or nv == 0:
        return 0.0
    return float(u @ v / (nu * nv))


def compare(path_a: str | Path, path_b: str | Path, limit: int | None = None) -> dict[str, Any]:
    """Per-image cosine and max |Δ| over the images both sources hold, and a summary."""
    a, b = _Source(Path(path_a)), _Source(Path(path_b))
    ids_a, ids_b = a.ids(), b.ids()
    common = sorted(ids_a & ids_b)[:limit]
    if not common:
        raise LsatError(f"{path_a} and {path_b} have no image id in common")
    per_image = [
        {"image_id": i, "cosine": cosine(x, y), "max_abs_diff": float(np.abs(x - y).max())}
        for i, x, y in _pairs(a, b, common)
    ]
    cos = np.array([r["cosine"] for r in per_image])
    worst = sorted(per_image, key=lambda r: r["cosine"])[:5]
    return {
        "a": str(path_a),
        "b": str(path_b),
        "compared": len(per_image),
        "only_in_a": len(ids_a - ids_b),
        "only_in_b": len(ids_b - ids_a),
        "cosine_mean": float(cos.mean()),
        "cosine_min": float(cos.min()),
        "max_abs_diff": max(r["max_abs_diff"] for r in per_image),
        "worst": worst,
        "per_image": per_image,
    }


def report(result: dict[str, Any]) -> str:
    """The lines ``lsat compare-features`` prints."""
    lines = [
        f"compared {result['compared']} images ({result['only_in_a']} only in A, "
        f"{result['only_in_b']} only in B)",
        f"cosine: mean {result['cosine_mean']:.6f}, min {result['cosine_min']:.6f}; "
        f"max |Δ| {result['max_abs_diff']:.6g}",
    ]
    lines += [
        f"  image {r['image_id']}: cosine {r['cosine']:.6f}, max |Δ| {r['max_abs_diff']:.6g}"
        for r in result["worst"]
    ]
    return "\n".join(lines)
