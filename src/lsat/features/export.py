"""The ``export`` backend: a user's ``torch.export`` backbone (``.pt2``) run over images.

Why torch.export: it freezes any backbone (ResNeXt-152 conv5, ResNet-101 layer3, ...) into
one self-contained file with its weights, so extraction needs neither the model's source
code nor a model zoo. The program must map a (B, 3, H, W) batch to a (B, C, H', W') map (a
tuple's first element is taken), and be exported in eval mode with dynamic batch (and, for
``trar``, dynamic height/width) — see docs/features.md.

Pre-processing, each step as TRAR's extractor (rentainhe/TRAR-Feature-Extraction on
detectron2; file and line of each in docs/features.md):
- ``trar``: EXIF rotation applied, detectron2's test resize (shorter side 600, longer at
  most 1000, PIL bilinear), BGR channels minus detectron2's BGR pixel mean (std 1, 0..255
  scale); then the map is transposed when portrait, centre zero-padded (or cut to its first
  32) to 32×32 and max-pooled to S×S (:func:`lsat.features.grid.trar_grid`); images of
  equal size run together (the backbone pads nothing: detectron2's ResNet has no size
  divisibility);
- ``clevr``: image resized to 224×224 (bicubic), ImageNet-normalised RGB, the map must be
  S×S (14×14).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps

from lsat.errors import LsatError
from lsat.features.backends import (
    IMAGES_WHAT,
    TRAR_MAX_SIZE,
    TRAR_MIN_SIZE,
    export_backbone,
    open_rgb,
)
from lsat.features.grid import (
    CLEVR_INPUT,
    clevr_grid,
    imagenet_normalize,
    trar_grid,
    trar_normalize,
)
from lsat.features.inputs import IMAGE_SUFFIXES
from lsat.safe_load import safe_export_load


def trar_input_size(width: int, height: int) -> tuple[int, int]:
    """(width, height) after TRAR's test resize, detectron2's ``ResizeShortestEdge(600,
    1000)`` arithmetic: shorter side 600, then both scaled down if the longer exceeds 1000,
    each rounded half up."""
    scale = TRAR_MIN_SIZE / min(height, width)
    if height < width:
        new_h, new_w = float(TRAR_MIN_SIZE), scale * width
    else:
        new_h, new_w = scale * height, float(TRAR_MIN_SIZE)
    if max(new_h, new_w) > TRAR_MAX_SIZE:
        shrink = TRAR_MAX_SIZE / max(new_h, new_w)
        new_h, new_w = new_h * shrink, new_w * shrink
    return max(1, int(new_w + 0.5)), max(1, int(new_h + 0.5))


def load_exported(path: str | Path, device: torch.device) -> torch.nn.Module:
    """Load a ``.pt2`` program on ``device``; LsatError naming the file when it fails."""
    p = Path(path)
    if not p.is_file():
        raise LsatError(
            f"export model not found: {p} (features.export_model: a .pt2 file written by "
            "torch.export.save, see docs/features.md)"
        )
    program = safe_export_load(p)  # never runs code from the archive
    try:
        if device.type != "cpu":
            from torch.export.passes import move_to_device_pass

            program = move_to_device_pass(program, device)
        return program.module()
    except Exception as err:  # torch raises many types for a bad archive
        raise LsatError(f"cannot load {p} with torch.export.load: {err}") from None


def _trar_image(img: Image.Image) -> Image.Image:
    img = ImageOps.exif_transpose(img)  # detectron2's read_image applies the EXIF rotation
    return img.resize(trar_input_size(*img.size), Image.Resampling.BILINEAR)


def _clevr_image(img: Image.Image) -> Image.Image:
    return img.resize((CLEVR_INPUT, CLEVR_INPUT), Image.Resampling.BICUBIC)


@dataclass(frozen=True)
class Preprocess:
    """One grid pre-processing (module docstring): image → input, pixels → normalised
    input, the backbone's map → S×S cells."""

    image: Callable[[Image.Image], Image.Image]
    normalize: Callable[[torch.Tensor], torch.Tensor]
    to_grid: Callable[[torch.Tensor, int], torch.Tensor]
    dynamic_size: bool  # inputs of several sizes: the export needs dynamic height/width


PREPROCESS = {
    "trar": Preprocess(_trar_image, trar_normalize, trar_grid, dynamic_size=True),
    "clevr": Preprocess(
        _clevr_image, lambda px: imagenet_normalize(px / 255.0), clevr_grid, dynamic_size=False
    ),
}


class ExportBackend:
    """Run an exported backbone in batches (CUDA when available) + grid pre-processing."""

    suffixes = IMAGE_SUFFIXES
    what = IMAGES_WHAT

    def __init__(
        self, model_path: str | Path, preprocess: str, grid: int, device: str | None = None
    ):
        if preprocess not in PREPROCESS:
            raise LsatError(
                f"unknown preprocess {preprocess!r}: expected one of {', '.join(PREPROCESS)}"
            )
        self.model_path = Path(model_path)
        self.preprocess, self.grid = preprocess, int(grid)
        self.steps = PREPROCESS[preprocess]
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.model = load_exported(self.model_path, self.device)
        self.backbone = export_backbone(self.model_path, preprocess)

    def read(self, path: Path) -> torch.Tensor:
        img = self.steps.image(open_rgb(path))
        arr = np.asarray(img, dtype=np.uint8).transpose(2, 0, 1).copy()
        return torch.from_numpy(arr)

    def probe(self, path: Path) -> int:
        return int(self.compute([self.read(path)], [path]).shape[2])

    def compute(self, items: list[torch.Tensor], paths: Sequence[Path]) -> np.ndarray:
        groups: dict[tuple[int, ...], list[int]] = {}
        for k, item in enumerate(items):
            groups.setdefault(tuple(item.shape), []).append(k)
        out: list[np.ndarray | None] = [None] * len(items)
        for ks in groups.values():
            cells = self._run(torch.stack([items[k] for k in ks]), [paths[k] for k in ks])
            for k, c in zip(ks, cells, strict=True):
                out[k] = c
        return np.stack(out)  # type: ignore[arg-type]

    def _run(self, batch: torch.Tensor, paths: Sequence[Path]) -> np.ndarray:
        x = self.steps.normalize(batch.to(self.device, torch.float32))
        try:
            with torch.no_grad():
                y = self.model(x)
        except Exception as err:
            raise LsatError(
                f"{self.model_path} failed on input {tuple(x.shape)} (first image {paths[0]}): "
                f"{err}. Export the backbone with a dynamic batch dimension"
                + (" and dynamic height/width" if self.steps.dynamic_size else "")
            ) from None
        if isinstance(y, (tuple, list)):
            y = y[0]
        if not isinstance(y, torch.Tensor) or y.ndim != 4:
            shape = tuple(y.shape) if isinstance(y, torch.Tensor) else type(y).__name__
            raise LsatError(f"{self.model_path} must return a (B, C, H, W) map; got {shape}")
        y = y.float()
        cells = self.steps.to_grid(y, self.grid)
        arr = cells.cpu().numpy()
        if not np.all(np.isfinite(arr)) or np.abs(arr).max() > 65504:
            raise LsatError(
                f"{self.model_path} gave non-finite or float16-overflowing features "
                f"for images starting at {paths[0]}"
            )
        return arr.astype(np.float16)
