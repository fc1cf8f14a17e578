"""Grid pre-processing of backbone feature maps: pure tensor functions, no files.

TRAR's VQA grid features (rentainhe/TRAR-Feature-Extraction, ``utils.py``
``TRAR_Preprocess``; every step cited in docs/features.md) come from a conv5 map of
arbitrary size: a portrait map is transposed so that height ≤ width, then each side is
centre zero-padded to 32, or cut to its first 32 rows/columns when longer, and the 32×32
canvas is max-pooled down to S×S (S = 16 or 8). Cells lying wholly in the padding are
therefore exactly zero, which is the padding mask the models rely on (docs/sources.md). CLEVR
features are a ResNet-101 layer3 map of a 224×224 input: 14×14 cells, no padding.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from lsat.errors import LsatError

TRAR_CANVAS = 32
CLEVR_INPUT = 224
CLEVR_GRID = 14
# detectron2's defaults, which TRAR's extractor keeps: BGR pixels in 0..255 minus this
# mean, standard deviation 1 (MODEL.PIXEL_MEAN / PIXEL_STD, INPUT.FORMAT "BGR").
TRAR_PIXEL_MEAN_BGR = (103.530, 116.280, 123.675)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def pad_or_crop(x: torch.Tensor, size: int = TRAR_CANVAS) -> torch.Tensor:
    """TRAR's ``Padding2D``: each side of a (B, C, H, W) map centre zero-padded to ``size``
    (the odd extra row/column at the bottom/right), or cut to its first ``size``."""
    if x.ndim != 4:
        raise LsatError(f"expected a (B, C, H, W) feature map, got shape {tuple(x.shape)}")
    out = x[:, :, :size, :size]
    h, w = out.shape[2], out.shape[3]
    top, left = (size - h) // 2, (size - w) // 2
    return F.pad(out, (left, size - w - left, top, size - h - top), value=0.0)


def landscape(x: torch.Tensor) -> torch.Tensor:
    """TRAR's ``Transpose_tensor``: a map taller than wide is transposed (H ≤ W after)."""
    return x.transpose(2, 3) if x.shape[2] > x.shape[3] else x


def trar_grid(x: torch.Tensor, grid: int) -> torch.Tensor:
    """(B, C, H, W) conv map → (B, grid², C) TRAR grid cells: transpose a portrait map,
    pad/cut to 32×32, max-pool (2×2 twice for 8, once for 16), cells in row-major order."""
    if grid < 1 or TRAR_CANVAS % grid:
        raise LsatError(f"TRAR grid must divide {TRAR_CANVAS} (8 or 16 in TRAR); got {grid}")
    if x.ndim != 4:
        raise LsatError(f"expected a (B, C, H, W) feature map, got shape {tuple(x.shape)}")
    canvas = pad_or_crop(landscape(x), TRAR_CANVAS)
    k = TRAR_CANVAS // grid
    pooled = F.max_pool2d(canvas, kernel_size=k, stride=k) if k > 1 else canvas
    return to_cells(pooled)


def clevr_grid(x: torch.Tensor, grid: int = CLEVR_GRID) -> torch.Tensor:
    """(B, C, S, S) map of a 224×224 input → (B, S², C); the map must already be S×S."""
    if x.ndim != 4 or x.shape[2] != grid or x.shape[3] != grid:
        raise LsatError(
            f"CLEVR pre-processing expects a (B, C, {grid}, {grid}) map from a "
            f"{CLEVR_INPUT}×{CLEVR_INPUT} input, got shape {tuple(x.shape)}"
        )
    return to_cells(x)


def to_cells(x: torch.Tensor) -> torch.Tensor:
    """(B, C, S, S) → (B, S·S, C), cells in row-major order (row i, column j → i·S + j)."""
    b, c, h, w = x.shape
    return x.reshape(b, c, h * w).transpose(1, 2).contiguous()


def imagenet_normalize(x: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) RGB in [0, 1] → ImageNet-normalised input for torchvision-style nets."""
    mean = torch.tensor(IMAGENET_MEAN, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return (x - mean) / std


def trar_normalize(x: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) RGB in 0..255 → detectron2's input for TRAR's extractor: channels in
    BGR order minus the BGR pixel mean, not divided (std 1)."""
    mean = torch.tensor(TRAR_PIXEL_MEAN_BGR, dtype=torch.float32, device=x.device)
    return x.flip(1).float() - mean.view(1, 3, 1, 1)
