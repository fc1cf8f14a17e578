"""TRAR (docs/sources.md), faithful to rentainhe/TRAR-VQA: span masks, router, routed attention.

**Span masks.** Order o hides every key outside the query's (2o+1)×(2o+1) neighbourhood on
the S×S grid; order 0 is global attention. :class:`OrderMasks` builds the L masks once per
model and ORs them with the padding mask once per forward.

**Routed attention.** One score matrix QKᵀ/√d is masked once per order, each masked copy is
soft-maxed (with dropout) into a map, and a router mixes the L maps with per-example
weights α (B, L). Because ``Σ_l α_l · map_l · V = Σ_l α_l · (map_l · V)``, the SDPA path
runs one ``scaled_dot_product_attention`` with the orders folded into the batch (4-D, so a
fused kernel runs on GPUs) and mixes the *outputs*; the explicit path builds the maps like
the official code (one QKᵀ and one product with V instead of L of each; ``auto`` picks it on
CPU, where SDPA with dropout is not fused anyway). In training SDPA drops map entries
inside the kernel, which is the same dropout in distribution.

Evaluation differs from the official code on purpose: the official test adds Gumbel noise
with τ = 10 (τ is not saved in checkpoints), so its accuracy is random. Ours is
deterministic: one-hot(argmax logits) when BINARIZE, else softmax(logits), no noise.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lsat.models.config import ModelConfig
from lsat.models.kernels import dropout
from lsat.models.layers import (
    MLP,
    LayerNorm,
    Projections,
    attend_pool,
    grid_coords,
    mask_value,
    masked_attention,
    uses_sdpa,
)


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
    """TRAR's attention spans: one (N, N) window mask per order, OR-ed with padding.

    The masks are a non-persistent buffer: it follows ``model.to(device)`` and stays out of
    the ``state_dict``, so official checkpoints load strictly.
    """

    masks: Tensor  # a buffer (nn.Module's attribute lookup is untyped)

    def __init__(self, scale: int, orders: tuple[int, ...]) -> None:
        super().__init__()
        masks = torch.stack([order_mask(scale, o) for o in orders])
        self.register_buffer("masks", masks, persistent=False)

    def forward(self, pad: Tensor) -> Tensor:
        """``pad`` (B, 1, 1, N) → (B, L, 1, N, N): order masks with padded keys hidden."""
        return self.masks[None, :, None] | pad[:, None]


def content_mask(x: Tensor) -> Tensor:
    """(B, N, 1) True where a row of ``x`` is all zeros: the official router's own mask.

    The official router masks hidden states, not input features, so in practice nothing is
    masked (a projected cell is never exactly zero); we keep that behaviour.
    """
    return (x.abs().sum(-1) == 0).unsqueeze(2)


class RouterAttPool(nn.Module):
    """The router's attention pooling ('attention'): AttFlat with a 512→512 merge and a norm."""

    def __init__(self, hidden: int, dropout_r: float = 0.1) -> None:
        super().__init__()
        self.mlp = MLP(hidden, hidden, 1, dropout_r)
        self.linear_merge = nn.Linear(hidden, hidden)
        self.norm = LayerNorm(hidden)

    def forward(self, x: Tensor) -> Tensor:
        return self.norm(self.linear_merge(attend_pool(self.mlp(x), x, content_mask(x))))


class RoutingBlock(nn.Module):
    """Predicts α (B, L) from the decoder input x (B, N, D): pool, MLP D → D/2 → L."""

    def __init__(
        self,
        hidden: int,
        num_orders: int,
        pooling: str,
        routing: str,
        binarize: bool,
        dropout_r: float = 0.1,
    ) -> None:
        super().__init__()
        self.pooling = pooling
        self.routing = routing
        self.binarize = binarize
        # τ of the official noisy test (set_eval_gumbel); None = our deterministic one.
        self.eval_gumbel_tau: float | None = None
        if pooling == "attention":
            self.pool: nn.Module | None = RouterAttPool(hidden, dropout_r)
        elif pooling == "fc":
            self.pool = nn.Linear(hidden, 1)
        else:
            self.pool = None
        self.mlp = nn.Sequential(
            nn.Linear(hidden, hidden // 2, bias=False),
            nn.ReLU(),
            nn.Linear(hidden // 2, num_orders),
        )

    def pooled(self, x: Tensor) -> Tensor:
        if self.pooling == "avg":
            return x.mean(dim=1)  # every position, padding included (official)
        if self.pooling == "fc":
            assert self.pool is not None
            return attend_pool(self.pool(x), x, content_mask(x))
        assert self.pool is not None
        return self.pool(x)

    def forward(self, x: Tensor, tau: Tensor) -> Tensor:
        logits = self.mlp(self.pooled(x)).float()
        if not self.training:
            alpha = torch.softmax(logits, dim=-1)
            if self.eval_gumbel_tau is not None and self.routing == "hard":
                # The official test: the hard router's Gumbel noise at τ (TAU_MAX, as a
                # fresh official Net has it), then BINARIZE's argmax of the noisy α.
                alpha = _gumbel_softmax(logits, self.eval_gumbel_tau)
            if self.binarize:
                return F.one_hot(alpha.argmax(-1), alpha.shape[-1]).to(logits.dtype)
            return alpha
        if self.routing == "soft":
            return torch.softmax(logits, dim=-1)
        # Relaxed Gumbel-softmax (not straight-through), as in the official HardRoutingBlock.
        return _gumbel_softmax(logits, tau)


def _gumbel_softmax(logits: Tensor, tau: Tensor | float) -> Tensor:
    gumbel = -torch.empty_like(logits).exponential_().log()
    return torch.softmax((logits.log_softmax(-1) + gumbel) / tau, dim=-1)


def set_eval_gumbel(model: nn.Module, tau: float | None) -> int:
    """Evaluate hard routing as the official test does (Gumbel noise at ``tau``), or
    deterministically again (``None``); returns how many hard routers it concerns."""
    routers = [m for m in model.modules() if isinstance(m, RoutingBlock) and m.routing == "hard"]
    for m in routers:
        m.eval_gumbel_tau = tau
    return len(routers)


class SARoutingBlock(Projections):
    """The decoder's image self-attention in TRAR (``mhatt1`` with a ``routing_block``)."""

    def __init__(
        self,
        hidden: int,
        heads: int,
        dropout_r: float,
        num_orders: int,
        pooling: str,
        routing: str,
        binarize: bool,
    ) -> None:
        super().__init__(hidden, heads, dropout_r)
        self.routing_block = RoutingBlock(hidden, num_orders, pooling, routing, binarize, dropout_r)

    def forward(self, x: Tensor, masks: Tensor, tau: Tensor) -> Tensor:
        """``masks`` (B, L, 1, N, N) from :class:`OrderMasks`."""
        alpha = self.routing_block(x, tau)  # (B, L), fp32
        q, k, v = self.project(x, x, x)
        p = self.att_dropout
        if uses_sdpa(self.attention, q):
            outs = order_attention(q, k, v, masks, p)  # (B, L, h, N, d)
            atted = torch.einsum("bl,blhnd->bhnd", alpha.to(outs.dtype), outs)
        else:
            scores = q @ k.transpose(-2, -1) / (q.shape[-1] ** 0.5)
            # where() writes the L masked copies in one pass (masked_fill clones, then fills).
            scores = torch.where(masks, mask_value(scores.dtype), scores.unsqueeze(1))
            maps = dropout(torch.softmax(scores, dim=-1), p, training=p > 0)
            att = torch.einsum("bl,blhnm->bhnm", alpha.to(maps.dtype), maps)
            atted = att @ v
        return self.merge(atted)


def order_attention(q: Tensor, k: Tensor, v: Tensor, masks: Tensor, dropout_p: float) -> Tensor:
    """SDPA of q/k/v (B, h, N, d) under each of the L masks (B, L, 1, N, N): (B, L, h, N, d).

    The orders are folded into the batch, (B·L, h, N, d), because the fused kernels (flash,
    memory-efficient, cuDNN) take 4-D inputs only: a 5-D call runs the unfused math path
    in fp32 on a GPU. Each (example, order) slice is computed exactly as the 5-D call would.
    """
    b, n_orders = masks.shape[:2]
    qs, ks, vs = (
        t.unsqueeze(1).expand(-1, n_orders, -1, -1, -1).reshape(b * n_orders, *t.shape[1:])
        for t in (q, k, v)
    )
    folded = masks.reshape(b * n_orders, *masks.shape[2:])
    out = masked_attention(qs, ks, vs, folded, dropout_p, backend="sdpa")
    return out.view(b, n_orders, *out.shape[1:])


def tau_schedule(
    policy: int, epoch: int, max_epoch: int, warmup_epochs: int, tau_max: float, tau_min: float
) -> float:
    """Gumbel temperature of 0-based ``epoch`` (official train_engine, generalised).

    0 (slow): linear tau_max → tau_min over the epochs.
    1 (fast): warm-up epochs tau_max → 1 linearly, then 1 − (e − W) / (E − W).
    2 (finetune): the warm-up of policy 1, then tau_min (0.1 by default) throughout.
    """
    if policy == 0:
        return tau_max - (tau_max - tau_min) * epoch / max(max_epoch - 1, 1)
    warm = max(warmup_epochs, 0)
    if epoch < warm:
        return tau_max - (tau_max - 1.0) * epoch / warm
    if policy == 1:
        return 1.0 - (epoch - warm) / max(max_epoch - warm, 1)
    return tau_min


def image_attention(cfg: ModelConfig) -> SARoutingBlock:
    """TRAR's ``mhatt1`` for ``cfg``."""
    return SARoutingBlock(
        cfg.hidden_size,
        cfg.multi_head,
        cfg.dropout_r,
        len(cfg.orders),
        cfg.pooling,
        cfg.routing,
        cfg.binarize,
    )


def image_masks(cfg: ModelConfig) -> OrderMasks:
    """The span masks of ``cfg``'s orders on its grid."""
    return OrderMasks(cfg.img_scale, cfg.orders)


def gumbel_tau(cfg: ModelConfig, epoch: int, max_epoch: int, warmup_epochs: int) -> float | None:
    """τ of 0-based ``epoch`` under hard routing; None under soft routing (no τ)."""
    if cfg.routing != "hard":
        return None
    return tau_schedule(cfg.tau_policy, epoch, max_epoch, warmup_epochs, cfg.tau_max, cfg.tau_min)
