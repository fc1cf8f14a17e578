"""Spatial masks over an S×S grid of cells (row-major, N = S²), built once per model.

Convention: boolean, **True = hidden**. The builders here are parameter-free modules whose
masks are non-persistent buffers: they follow ``model.to(device)``, never enter the
``state_dict`` (official checkpoints load strictly) and cost nothing per forward beyond an
OR with the padding mask.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn


def grid_coords(scale: int) -> tuple[Tensor, Tensor]:
    """Row and column of every cell of a ``scale``×``scale`` grid, row-major, shape (N,)."""
    idx = torch.arange(scale * scale)
    return idx // scale, idx % scale


def order_mask(scale: int, order: int) -> Tensor:
    """(N, N) True where key (i', j') is outside query (i, j)'s window |Δi|, |Δj| ≤ order.

    Order 0 means global attention (nothing hidden), as in TRAR.
    """
    if order == 0:
        return torch.zeros(scale * scale, scale * scale, dtype=torch.bool)
    row, col = grid_coords(scale)
    near = ((row[:, None] - row[None, :]).abs() <= order) & (
        (col[:, None] - col[None, :]).abs() <= order
    )
    return ~near


class OrderMasks(nn.Module):
    """TRAR's attention spans: one (N, N) window mask per order, OR-ed with padding."""

    masks: Tensor  # a buffer (nn.Module's attribute lookup is untyped)

    def __init__(self, scale: int, orders: tuple[int, ...]) -> None:
        super().__init__()
        masks = torch.stack([order_mask(scale, o) for o in orders])
        self.register_buffer("masks", masks, persistent=False)

    def forward(self, pad: Tensor) -> Tensor:
        """``pad`` (B, 1, 1, N) → (B, L, 1, N, N): order masks with padded keys hidden."""
        return self.masks[None, :, None] | pad[:, None]


def window_ids(scale: int, window: int) -> Tensor:
    """Window index of each cell when the grid is cut into ``window``×``window`` tiles.

    Tiles are row-major; when ``window`` does not divide ``scale`` the last row and column
    of tiles are smaller. Shape (N,), values in [0, ceil(scale / window)²).
    """
    per_side = -(-scale // window)
    row, col = grid_coords(scale)
    return (row // window) * per_side + col // window


class WindowMasks(NamedTuple):
    """What LSAT's window attention needs for one batch."""

    intra: Tensor  # (B, 1, N, N) bool: key outside the query's window, or padding
    pool: Tensor  # (B, 1, W, N) float: mean-pooling weights of each window's real cells
    inter: Tensor  # (B, 1, 1, W) bool: window with no real cell (nothing to summarise)


class WindowLayout(nn.Module):
    """LSAT's partition of the grid into non-overlapping windows."""

    member: Tensor  # buffers (nn.Module's attribute lookup is untyped)
    outside: Tensor

    def __init__(self, scale: int, window: int) -> None:
        super().__init__()
        ids = window_ids(scale, window)
        num_windows = int(ids.max()) + 1
        member = ids[None, :] == torch.arange(num_windows)[:, None]  # (W, N)
        self.register_buffer("member", member, persistent=False)
        self.register_buffer("outside", ids[:, None] != ids[None, :], persistent=False)

    def forward(self, pad: Tensor) -> WindowMasks:
        """``pad`` (B, 1, 1, N) True on padding cells."""
        intra = self.outside[None, None] | pad
        real = self.member[None] & ~pad[:, 0]  # (B, W, N)
        counts = real.sum(-1, keepdim=True)
        pool = real.float() / counts.clamp(min=1)
        inter = (counts == 0).transpose(1, 2)[:, None]  # (B, 1, 1, W)
        return WindowMasks(intra=intra, pool=pool[:, None], inter=inter)
