"""Transformer pieces shared by TRAR, MCAN and LSAT, named as in the official code.

Module and parameter names (``mlp.fc.linear``, ``a_2``/``b_2``, ``linear_{v,k,q,merge}``)
follow openvqa/TRAR so an official ``state_dict`` loads with ``strict=True``. The family
files (:mod:`~lsat.models.trar`, :mod:`~lsat.models.mcan`, :mod:`~lsat.models.lsat`) build
their image self-attention on :class:`Projections`; the CPU kernels these layers call
(dropout, LayerNorm statistics) are :mod:`lsat.models.kernels`.

Masks everywhere are boolean with **True = hidden** (padding or outside a window), the
official convention. :func:`masked_attention` is the one attention kernel: the fused path
calls ``scaled_dot_product_attention`` with an additive mask; the explicit path fills
masked scores with −1e9 exactly as the official code does. Both give a *uniform* row when
every key of a query is hidden (the −1e9 semantics), never NaN.

Backends (``set_attention_backend``): ``sdpa``, ``explicit`` or ``auto``, the default: SDPA on
GPUs, the explicit path on CPU. On CPU, SDPA with dropout has no fused kernel and runs its
unfused "math" path, and at the demo's sizes its flash kernel is slower than the explicit
maps; in evaluation at the paper sizes the two are even (benchmarks/RESULTS.md).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lsat.models.kernels import centred_std, dropout, relu_dropout, softmax_last

MASK_VALUE = -1e9
ATTENTION_BACKENDS = ("auto", "sdpa", "explicit")


def mask_value(dtype: torch.dtype) -> float:
    """−1e9 where the dtype holds it (fp32, bf16), else half the most negative finite value."""
    return max(MASK_VALUE, torch.finfo(dtype).min / 2)


def grid_coords(scale: int) -> tuple[Tensor, Tensor]:
    """Row and column of every cell of a ``scale``×``scale`` grid, row-major, shape (N,)."""
    idx = torch.arange(scale * scale)
    return idx // scale, idx % scale


class Dropout(nn.Dropout):
    """``nn.Dropout`` through the cheap CPU mask of :func:`lsat.models.kernels.dropout`;
    no parameters, so state dicts are unchanged."""

    def forward(self, x: Tensor) -> Tensor:
        return dropout(x, self.p, self.training)


class LayerNorm(nn.Module):
    """The official LayerNorm: unbiased std, eps added to the std (not inside a sqrt)."""

    def __init__(self, size: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.eps = eps
        self.a_2 = nn.Parameter(torch.ones(size))
        self.b_2 = nn.Parameter(torch.zeros(size))

    def forward(self, x: Tensor) -> Tensor:
        # Computed in fp32 under autocast: the statistics of 512 bf16 values are too coarse.
        centred, std = centred_std(x.float())  # x − mean, unbiased std
        out = self.a_2 * (centred / (std + self.eps)) + self.b_2
        return out.to(x.dtype) if x.dtype in (torch.float16, torch.bfloat16) else out


class FC(nn.Module):
    """Linear, ReLU, dropout (``fc.linear`` in the official names)."""

    def __init__(self, in_size: int, out_size: int, dropout_r: float = 0.0) -> None:
        super().__init__()
        self.linear = nn.Linear(in_size, out_size)
        self.dropout = Dropout(dropout_r)

    def forward(self, x: Tensor) -> Tensor:
        return relu_dropout(self.linear(x), self.dropout.p, self.training)


class MLP(nn.Module):
    """FC then Linear (``mlp.fc.linear``, ``mlp.linear``)."""

    def __init__(self, in_size: int, mid_size: int, out_size: int, dropout_r: float = 0.0):
        super().__init__()
        self.fc = FC(in_size, mid_size, dropout_r)
        self.linear = nn.Linear(mid_size, out_size)

    def forward(self, x: Tensor) -> Tensor:
        return self.linear(self.fc(x))


class FFN(nn.Module):
    """Position-wise feed-forward block, hidden → ff → hidden."""

    def __init__(self, hidden: int, ff: int, dropout_r: float) -> None:
        super().__init__()
        self.mlp = MLP(hidden, ff, hidden, dropout_r)

    def forward(self, x: Tensor) -> Tensor:
        return self.mlp(x)


def attend_pool(scores: Tensor, x: Tensor, mask: Tensor | None) -> Tensor:
    """Softmax ``scores`` (B, N, G) over positions (masked to −1e9) and pool ``x`` (B, N, D).

    Returns (B, G·D), glimpse-major like the official ``torch.cat`` of glimpses.
    """
    if mask is not None:
        scores = scores.masked_fill(mask, mask_value(scores.dtype))
    att = torch.softmax(scores, dim=1)
    pooled = torch.einsum("bng,bnd->bgd", att, x.to(att.dtype))
    return pooled.reshape(x.shape[0], -1)


class AttFlat(nn.Module):
    """Attention flattening head: a sequence (B, N, D) to one vector (B, out)."""

    def __init__(self, hidden: int, mlp_size: int, glimpses: int, out_size: int, dropout_r: float):
        super().__init__()
        self.mlp = MLP(hidden, mlp_size, glimpses, dropout_r)
        self.linear_merge = nn.Linear(hidden * glimpses, out_size)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        """``mask`` (B, 1, 1, N), True on padding."""
        pooled = attend_pool(self.mlp(x), x, mask.squeeze(1).squeeze(1).unsqueeze(2))
        return self.linear_merge(pooled)


def uses_sdpa(backend: str, q: Tensor) -> bool:
    """Whether ``backend`` runs SDPA for ``q``'s device (``auto``: everywhere but the CPU)."""
    if backend == "auto":
        return q.device.type != "cpu"
    return backend == "sdpa"


def masked_attention(
    q: Tensor, k: Tensor, v: Tensor, mask: Tensor, dropout_p: float, backend: str = "auto"
) -> Tensor:
    """softmax(QKᵀ/√d, masked) · V for q (..., N, d), k/v (..., M, d), mask (..., N|1, M).

    ``dropout_p`` drops attention-map entries (training only; the caller passes 0 in eval).
    A query whose keys are all hidden gets the uniform map (mean of V), like −1e9 filling.
    """
    if not uses_sdpa(backend, q):
        scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
        scores = scores.masked_fill(mask, mask_value(scores.dtype))
        return dropout(softmax_last(scores), dropout_p, training=dropout_p > 0) @ v
    full = mask.all(dim=-1, keepdim=True)
    if q.device.type == "cpu" and not torch.compiler.is_compiling() and not full.any():
        # The usual case; on CPU the check costs no device sync.
        return F.scaled_dot_product_attention(
            q, k, v, attn_mask=_bias(mask, q), dropout_p=dropout_p
        )
    # A fully hidden query is un-hidden *before* the call and its output replaced after it:
    # an additive −1e9 cannot give its uniform row (large scores survive the rounding of
    # −1e9 + s), and a row whose scores are all −1e9 has a logsumexp far below −88.7, which
    # makes cuDNN's backward return NaN gradients for 64 keys with a mask (the 8×8 grid;
    # pytorch/pytorch#196678). With the guard no row the kernel sees is fully masked, and the
    # replaced rows receive no gradient through the kernel, exactly as in the explicit path.
    out = F.scaled_dot_product_attention(
        q, k, v, attn_mask=_bias(mask & ~full, q), dropout_p=dropout_p
    )
    return torch.where(full, v.mean(dim=-2, keepdim=True), out)


def _bias(mask: Tensor, q: Tensor) -> Tensor:
    """The additive SDPA mask of boolean ``mask`` (True = hidden) in ``q``'s dtype."""
    bias = torch.zeros(mask.shape, dtype=q.dtype, device=q.device)
    return bias.masked_fill(mask, mask_value(q.dtype))


class Projections(nn.Module):
    """The Q/K/V/merge projections of multi-head attention (``linear_{v,k,q,merge}``).

    Every attention of the network derives from it and defines its own ``forward``: the
    words' and guided attention (:class:`MHAtt`) and each family's image self-attention.
    """

    def __init__(self, hidden: int, heads: int, dropout_r: float) -> None:
        super().__init__()
        self.heads = heads
        self.dropout_r = dropout_r
        self.attention = "auto"
        self.linear_v = nn.Linear(hidden, hidden)
        self.linear_k = nn.Linear(hidden, hidden)
        self.linear_q = nn.Linear(hidden, hidden)
        self.linear_merge = nn.Linear(hidden, hidden)

    def split(self, x: Tensor) -> Tensor:
        """(B, N, D) → (B, heads, N, D / heads)."""
        b, n, d = x.shape
        return x.view(b, n, self.heads, d // self.heads).transpose(1, 2)

    def project(self, v: Tensor, k: Tensor, q: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Queries, keys and values, each (B, heads, N, d)."""
        return (
            self.split(self.linear_q(q)),
            self.split(self.linear_k(k)),
            self.split(self.linear_v(v)),
        )

    def merge(self, x: Tensor) -> Tensor:
        """(B, heads, N, d) → linear_merge of (B, N, heads·d)."""
        b, h, n, d = x.shape
        return self.linear_merge(x.transpose(1, 2).reshape(b, n, h * d))

    @property
    def att_dropout(self) -> float:
        return self.dropout_r if self.training else 0.0


class MHAtt(Projections):
    """Multi-head attention of queries ``q`` over keys ``k`` and values ``v``."""

    def forward(self, v: Tensor, k: Tensor, q: Tensor, mask: Tensor) -> Tensor:
        qh, kh, vh = self.project(v, k, q)
        return self.merge(masked_attention(qh, kh, vh, mask, self.att_dropout, self.attention))


def set_attention_backend(model: nn.Module, backend: str) -> nn.Module:
    """Set every attention module of ``model`` to ``auto``, ``sdpa`` or ``explicit``."""
    if backend not in ATTENTION_BACKENDS:
        raise ValueError(f"attention backend {backend!r}: expected one of {ATTENTION_BACKENDS}")
    for module in model.modules():
        if isinstance(module, Projections):
            module.attention = backend
    return model
