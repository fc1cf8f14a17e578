"""The CPU kernels the layers call: a cheap dropout mask, LayerNorm statistics and softmax.

The layers (:mod:`lsat.models.layers`) keep the reference math readable; what here is faster
than torch's obvious call on CPU gives the same numbers in distribution (dropout) or within
1e-6 (the std), and the measurements are in benchmarks/RESULTS.md.

**Dropout.** PyTorch draws a CPU dropout mask with one Mersenne-Twister call per element
(``bernoulli_``). Here one 64-bit draw feeds three 16-bit lanes, and an element is kept when
its lane is at or above ``p`` quantised to 1/65,536; the survivors are scaled by
``1 / (1 − p_q)``, so the expectation is exactly preserved. For p = 0.1 the drop rate is
6,554 / 65,536 = 0.100006. The draws come from the default CPU generator, so
``torch.manual_seed`` and the checkpointed RNG state make runs reproducible and resumes
exact, as with ``nn.Dropout``. On CUDA, under ``torch.compile`` (whose kernels draw their
own fused random numbers) and when :data:`FAST_CPU_DROPOUT` is switched off, it is plain
:func:`torch.nn.functional.dropout`.

**LayerNorm statistics.** The unbiased std from a sum of squares of the centred values:
``torch.std`` runs a Welford kernel that is much slower than a sum on CPU.

**Softmax over few keys.** torch's CPU softmax over a last dimension shorter than 16 (the
question's 14 tokens in the papers, 11 in the demo) is 4–5× slower, forward and backward,
than over 16 of them. The short rows are padded with −inf to 16 columns and sliced back:
the padding leaves each row's maximum unchanged and adds exp(−inf) = 0 to its sum.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

LEVELS = 1 << 16
# Module-wide switch, for benchmarks and tests that compare with torch's own dropout.
FAST_CPU_DROPOUT = True


def drop_threshold(p: float) -> int:
    """The signed 16-bit lane value below which an element is dropped."""
    return round(p * LEVELS) - LEVELS // 2


def survivor_scale(p: float) -> float:
    """1 / (1 − p_q): what a kept element is multiplied by, p_q being p quantised."""
    return 1.0 / (1.0 - round(p * LEVELS) / LEVELS)


def keep_mask(shape: torch.Size | tuple[int, ...], p: float) -> Tensor:
    """Boolean mask of ``shape``, each element kept with probability 1 − round(p·2¹⁶)/2¹⁶."""
    n = math.prod(shape)
    words = torch.empty((n + 2) // 3, dtype=torch.int64).random_()
    # random_() fills [0, 2⁶³): the top lane of each word lacks its sign bit, so only the
    # three low lanes are uniform over all 65,536 values.
    lanes = words.view(torch.int16).view(-1, 4)[:, :3]
    return (lanes >= drop_threshold(p)).reshape(-1)[:n].view(shape)


def _fast(x: Tensor, p: float, training: bool) -> bool:
    """Whether the cheap CPU mask applies (else torch's own dropout runs)."""
    return (
        training
        and 0.0 < p < 1.0
        and FAST_CPU_DROPOUT
        and x.device.type == "cpu"
        and not torch.compiler.is_compiling()
    )


def dropout(x: Tensor, p: float, training: bool = True) -> Tensor:
    """``F.dropout`` with the cheap CPU mask (see the module docstring)."""
    if not _fast(x, p, training):
        return F.dropout(x, p, training)
    return torch.where(keep_mask(x.shape, p), x * survivor_scale(p), 0.0)


class _ReluDropout(torch.autograd.Function):
    """dropout(relu(x)) in one pass each way, saving only the boolean mask."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, p: float) -> Tensor:
        keep = keep_mask(x.shape, p) & (x > 0)
        ctx.scale = survivor_scale(p)
        ctx.save_for_backward(keep)
        return torch.where(keep, x * ctx.scale, 0.0)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None]:
        (keep,) = ctx.saved_tensors
        return torch.where(keep, grad * ctx.scale, 0.0), None


def relu_dropout(x: Tensor, p: float, training: bool = True) -> Tensor:
    """``dropout(relu(x))``; on the fast CPU path one fused step (same mask, same numbers).

    The feed-forward layers' large activations made ReLU's own forward and backward passes
    worth folding into dropout's (benchmarks/RESULTS.md).
    """
    if not _fast(x, p, training):
        return dropout(F.relu(x), p, training)
    return _ReluDropout.apply(x, p)


def centred_std(x: Tensor) -> tuple[Tensor, Tensor]:
    """``x`` minus its mean over the last dimension, and the unbiased std (keepdim).

    A constant row has std 0, as with ``torch.std``.
    """
    centred = x - x.mean(-1, keepdim=True)
    std = centred.square().sum(-1, keepdim=True).div(x.shape[-1] - 1).sqrt()
    return centred, std


# Rows shorter than this take torch's slow CPU softmax path (benchmarks/RESULTS.md).
SOFTMAX_MIN_WIDTH = 16


def softmax_last(x: Tensor) -> Tensor:
    """``torch.softmax(x, -1)``; short CPU rows padded to 16 (see the module docstring)."""
    width = x.shape[-1]
    if width >= SOFTMAX_MIN_WIDTH or x.device.type != "cpu" or torch.compiler.is_compiling():
        return torch.softmax(x, dim=-1)
    padded = F.pad(x, (0, SOFTMAX_MIN_WIDTH - width), value=float("-inf"))
    return torch.softmax(padded, dim=-1)[..., :width]
