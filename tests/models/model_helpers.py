"""Shared helpers for the model tests: a tiny configuration that runs in milliseconds."""

from __future__ import annotations

import torch

TINY = dict(
    layer=2,
    hidden_size=32,
    ff_size=64,
    multi_head=4,
    flat_mlp_size=32,
    flat_out_size=48,
    word_embed_size=16,
    img_feat_size=12,
    img_scale=4,
    orders=[0, 1, 2],
    window_size=3,
    dropout_r=0.1,
)
TOKENS, ANSWERS, T = 30, 7, 6


def tiny_batch(batch: int = 3, seed: int = 0, scale: int = 4) -> tuple[torch.Tensor, torch.Tensor]:
    """Random features and questions with padded words and some padded (all-zero) cells."""
    g = torch.Generator().manual_seed(seed)
    img = torch.randn(batch, scale * scale, TINY["img_feat_size"], generator=g)
    img[0, -3:] = 0  # padding cells
    ques = torch.randint(1, TOKENS, (batch, T), generator=g)
    ques[0, 4:] = 0  # padded words
    return img, ques
