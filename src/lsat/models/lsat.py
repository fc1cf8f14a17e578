"""LSAT's windows and local self-attention over them (docs/sources.md; the design is ours).

The LSAT paper replaces the global image self-attention of the decoder with attention that
models *intra-window* and *inter-window* relations; its public code does not implement it.
Our design, in the decoder's image self-attention (``mhatt1``):

1. The S×S grid is cut into non-overlapping w×w windows (row-major; when w does not divide
   S the last row/column of windows is smaller), see :class:`WindowLayout`.
2. **Intra-window**: ordinary multi-head attention whose keys are masked to the query's own
   window (and padding) — fine local relations, cost O(N·w²) of information.
3. **Inter-window**: each window is summarised by the mean of its real cells' keys and
   values (padding excluded; with a linear projection, the mean of projected cells is the
   projection of the mean cell). Every cell attends over the W window summaries, so
   information crosses windows in every layer at a cost of O(N·W).
4. A learned per-cell, per-head gate g = σ(Linear(x)) mixes them:
   ``out = g · intra + (1 − g) · inter`` before ``linear_merge``; the gate starts at ½.

The Q/K/V/merge projections are shared by both branches and keep MCAN's names, so the
parameter cost over MCAN-small is one Linear(hidden → heads) per decoder layer.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn

from lsat.models.config import ModelConfig
from lsat.models.layers import Projections, grid_coords, masked_attention


def window_ids(scale: int, window: int) -> Tensor:
    """Window index of each cell when the grid is cut into ``window``×``window`` tiles.

    Tiles are row-major; when ``window`` does not divide ``scale`` the last row and column
    of tiles are smaller. Shape (N,), values in [0, ceil(scale / window)²).
    """
    per_side = -(-scale // window)
    row, col = grid_coords(scale)
    return (row // window) * per_side + col // window


class WindowMasks(NamedTuple):
    """What LSAT's window attention needs for one batch (masks: True = hidden)."""

    intra: Tensor  # (B, 1, N, N) bool: key outside the query's window, or padding
    pool: Tensor  # (B, 1, W, N) float: mean-pooling weights of each window's real cells
    inter: Tensor  # (B, 1, 1, W) bool: window with no real cell (nothing to summarise)


class WindowLayout(nn.Module):
    """LSAT's partition of the grid into non-overlapping windows.

    Built once per model; its tables are non-persistent buffers (they follow
    ``model.to(device)`` and stay out of the ``state_dict``).
    """

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


class WindowAttention(Projections):
    """Gated intra-window + inter-window self-attention over a grid of cells."""

    def __init__(self, hidden: int, heads: int, dropout_r: float) -> None:
        super().__init__(hidden, heads, dropout_r)
        self.gate = nn.Linear(hidden, heads)
        nn.init.zeros_(self.gate.bias)

    def forward(self, x: Tensor, masks: WindowMasks, tau: Tensor | None = None) -> Tensor:
        """``masks`` from :class:`WindowLayout`; ``tau`` is unused (TRAR's)."""
        q, k, v = self.project(x, x, x)
        p = self.att_dropout
        intra = masked_attention(q, k, v, masks.intra, p, self.attention)
        pool = masks.pool.to(k.dtype)  # (B, 1, W, N)
        inter = masked_attention(q, pool @ k, pool @ v, masks.inter, p, self.attention)
        g = torch.sigmoid(self.gate(x)).transpose(1, 2).unsqueeze(-1).to(intra.dtype)
        return self.merge(g * intra + (1 - g) * inter)


def image_attention(cfg: ModelConfig) -> WindowAttention:
    """LSAT's ``mhatt1`` for ``cfg``."""
    return WindowAttention(cfg.hidden_size, cfg.multi_head, cfg.dropout_r)


def image_masks(cfg: ModelConfig) -> WindowLayout:
    """The windows of ``cfg``'s size on its grid."""
    return WindowLayout(cfg.img_scale, cfg.window_size)
