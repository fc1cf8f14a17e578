"""LSAT's local self-attention over windows (docs/sources.md; the design is ours).

The LSAT paper replaces the global image self-attention of the decoder with attention that
models *intra-window* and *inter-window* relations; its public code does not implement it.
Our design, in the decoder's image self-attention (``mhatt1``):

1. The S×S grid is cut into non-overlapping w×w windows (row-major; when w does not divide
   S the last row/column of windows is smaller), see :class:`~lsat.models.masks.WindowLayout`.
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

import torch
from torch import Tensor, nn

from lsat.models.layers import MHAtt, masked_attention
from lsat.models.masks import WindowMasks


class WindowAttention(MHAtt):
    """Gated intra-window + inter-window self-attention over a grid of cells."""

    def __init__(self, hidden: int, heads: int, dropout_r: float) -> None:
        super().__init__(hidden, heads, dropout_r)
        self.gate = nn.Linear(hidden, heads)
        nn.init.zeros_(self.gate.bias)

    def forward(self, x: Tensor, masks: WindowMasks, tau: Tensor | None = None) -> Tensor:  # type: ignore[override]
        q, k, v = (
            self.split(self.linear_q(x)),
            self.split(self.linear_k(x)),
            self.split(self.linear_v(x)),
        )
        p = self.att_dropout
        intra = masked_attention(q, k, v, masks.intra, p, self.attention)
        pool = masks.pool.to(k.dtype)  # (B, 1, W, N)
        inter = masked_attention(q, pool @ k, pool @ v, masks.inter, p, self.attention)
        g = torch.sigmoid(self.gate(x)).transpose(1, 2).unsqueeze(-1).to(intra.dtype)
        return self.merge(g * intra + (1 - g) * inter)
