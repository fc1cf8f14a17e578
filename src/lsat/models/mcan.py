"""MCAN-small's image self-attention: plain global multi-head attention over the cells.

MCAN is the network TRAR and LSAT change (docs/sources.md: Network); its decoder layer
attends from every cell to every real cell, so it needs no mask beyond the padding one.
"""

from __future__ import annotations

from torch import Tensor

from lsat.models.config import ModelConfig
from lsat.models.layers import Projections, masked_attention


class SelfAtt(Projections):
    """The decoder's image self-attention (``mhatt1``) of MCAN-small."""

    def forward(self, x: Tensor, masks: Tensor, tau: Tensor | None = None) -> Tensor:
        """``masks`` is the padding mask (B, 1, 1, N); ``tau`` is unused (TRAR's)."""
        q, k, v = self.project(x, x, x)
        return self.merge(masked_attention(q, k, v, masks, self.att_dropout, self.attention))


def image_attention(cfg: ModelConfig) -> SelfAtt:
    """MCAN's ``mhatt1`` for ``cfg``."""
    return SelfAtt(cfg.hidden_size, cfg.multi_head, cfg.dropout_r)
