"""LayerNorm, masked attention (SDPA vs explicit), padded rows, low precision."""

from __future__ import annotations

import pytest
import torch

from lsat.models.kernels import softmax_last
from lsat.models.layers import (
    AttFlat,
    LayerNorm,
    MHAtt,
    mask_value,
    masked_attention,
    set_attention_backend,
    uses_sdpa,
)


def test_layer_norm_is_the_official_formula() -> None:
    norm = LayerNorm(6)
    assert [n for n, _ in norm.named_parameters()] == ["a_2", "b_2"]
    with torch.no_grad():
        norm.a_2.copy_(torch.arange(1.0, 7.0))
        norm.b_2.fill_(0.5)
    x = torch.tensor([[1.0, 2.0, 3.0, 4.0, 5.0, 10.0]])
    mean = x.mean()
    std = ((x - mean) ** 2).sum().div(5).sqrt()  # Bessel: n - 1
    expected = torch.arange(1.0, 7.0) * (x - mean) / (std + 1e-6) + 0.5
    assert torch.allclose(norm(x), expected, atol=1e-6)
    # Differs from nn.LayerNorm (biased variance, eps inside the sqrt).
    assert not torch.allclose(norm(x), torch.nn.functional.layer_norm(x, (6,)) * norm.a_2 + 0.5)


def _qkv(shape=(2, 3, 5, 8), m: int = 7):
    g = torch.Generator().manual_seed(1)
    q = torch.randn(*shape, generator=g) * 4
    k = torch.randn(*shape[:-2], m, shape[-1], generator=g) * 4
    v = torch.randn(*shape[:-2], m, shape[-1], generator=g)
    return q, k, v


@pytest.mark.parametrize("backend", ["sdpa", "explicit"])
def test_fully_masked_row_is_uniform_not_nan(backend: str) -> None:
    q, k, v = _qkv()
    mask = torch.zeros(2, 1, 5, 7, dtype=torch.bool)
    mask[..., 3:] = True  # hide keys 3..6 for every query
    mask[0, 0, 2] = True  # query 2 of example 0 sees nothing
    out = masked_attention(q, k, v, mask, 0.0, backend)
    assert torch.isfinite(out).all()
    assert torch.allclose(out[0, :, 2], v[0].mean(-2), atol=1e-6)
    # Reference: the official masked_fill(-1e9) + softmax.
    scores = (q @ k.transpose(-2, -1) / 8**0.5).masked_fill(mask, -1e9)
    ref = torch.softmax(scores, -1) @ v
    assert torch.allclose(out, ref, atol=1e-5)


def test_sdpa_matches_explicit_with_padding() -> None:
    q, k, v = _qkv()
    mask = torch.rand(2, 1, 5, 7, generator=torch.Generator().manual_seed(3)) > 0.6
    a = masked_attention(q, k, v, mask, 0.0, "sdpa")
    b = masked_attention(q, k, v, mask, 0.0, "explicit")
    assert (a - b).abs().max() < 1e-5


def test_mask_value_is_finite_in_low_precision() -> None:
    assert mask_value(torch.float32) == -1e9
    assert mask_value(torch.bfloat16) == -1e9
    assert -65504 < mask_value(torch.float16) < -1e4


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_low_precision_padded_row(dtype: torch.dtype) -> None:
    q, k, v = (t.to(dtype) for t in _qkv())
    mask = torch.zeros(2, 1, 1, 7, dtype=torch.bool)
    mask[1] = True
    mask[0, ..., :2] = True
    for backend in ("sdpa", "explicit"):
        out = masked_attention(q, k, v, mask, 0.0, backend).float()
        assert torch.isfinite(out).all()
        assert torch.allclose(
            out[1], v[1].float().mean(-2, keepdim=True).expand_as(out[1]), atol=2e-2
        )


def test_mhatt_and_attflat_shapes_and_dropout_only_in_training() -> None:
    att = MHAtt(16, 4, 0.5)
    x, y = torch.randn(2, 5, 16), torch.randn(2, 3, 16)
    mask = torch.zeros(2, 1, 1, 3, dtype=torch.bool)
    att.eval()
    assert torch.equal(att(y, y, x, mask), att(y, y, x, mask))
    att.train()
    assert not torch.equal(att(y, y, x, mask), att(y, y, x, mask))
    flat = AttFlat(16, 8, 2, 10, 0.0)
    pad = torch.zeros(2, 1, 1, 5, dtype=torch.bool)
    pad[0, ..., 2:] = True
    out = flat(x, pad)
    assert out.shape == (2, 10)
    x2 = x.clone()
    x2[0, 2:] = 100.0  # padded positions must not matter
    assert torch.allclose(flat(x2, pad), out, atol=1e-6)


def test_auto_backend_is_explicit_on_cpu_and_sdpa_elsewhere() -> None:
    q = torch.zeros(1, 1, 2, 4)
    assert not uses_sdpa("auto", q) and uses_sdpa("auto", q.to("meta"))
    assert uses_sdpa("sdpa", q) and not uses_sdpa("explicit", q.to("meta"))
    with pytest.raises(ValueError, match="attention backend 'fast'"):
        set_attention_backend(MHAtt(8, 2, 0.0), "fast")


@pytest.mark.parametrize("width", [1, 5, 11, 14, 15, 16, 17, 64])
def test_softmax_last_matches_torch_forward_and_backward(width: int) -> None:
    """The −inf padding of short CPU rows gives torch's softmax and its gradient (a few ulps)."""
    g = torch.Generator().manual_seed(width)
    x = (torch.randn(3, 4, 6, width, generator=g) * 5).requires_grad_()
    with torch.no_grad():
        x[0, 0, 0] = -1e9  # a fully masked row (−1e9 filled): uniform, as with torch
        x[0, 0, 1, 0] = -1e9
    upstream = torch.randn(x.shape, generator=g)
    ours = softmax_last(x)
    (grad_ours,) = torch.autograd.grad(ours, x, upstream)
    ref = torch.softmax(x, dim=-1)
    (grad_ref,) = torch.autograd.grad(ref, x, upstream)
    assert ours.shape == ref.shape
    torch.testing.assert_close(ours, ref, rtol=0, atol=5e-7)
    torch.testing.assert_close(grad_ours, grad_ref, rtol=0, atol=1e-6)
    torch.testing.assert_close(ours[0, 0, 0], torch.full((width,), 1 / width))
