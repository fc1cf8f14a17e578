"""The SDPA paths as GPUs run them: the fully-masked-row guard and TRAR's 4-D fold.

The cuDNN backward bug (pytorch/pytorch#196678) needs a GPU to show, so these tests pin
what removes its trigger: no row that reaches ``scaled_dot_product_attention`` is fully
masked, gradients stay finite and equal the explicit path's, and TRAR's call is 4-D (the
fused kernels take nothing else) with the numerics of the 5-D call.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from lsat.models.layers import mask_value, masked_attention
from lsat.models.trar import order_attention


class SdpaSpy:
    """Wraps F.scaled_dot_product_attention and records the shapes and masks it gets."""

    def __init__(self) -> None:
        self.real = F.scaled_dot_product_attention
        self.calls: list[tuple[torch.Size, torch.Tensor]] = []

    def __call__(self, q, k, v, attn_mask=None, **kw):  # type: ignore[no-untyped-def]
        self.calls.append((q.shape, attn_mask.detach().clone()))
        return self.real(q, k, v, attn_mask=attn_mask, **kw)


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> SdpaSpy:
    s = SdpaSpy()
    monkeypatch.setattr(F, "scaled_dot_product_attention", s)
    return s


def _grid_case(dtype: torch.dtype = torch.float32):
    """q/k/v over the 8×8 grid (64 keys), padded keys and two fully masked queries."""
    g = torch.Generator().manual_seed(5)
    q, k, v = (torch.randn(2, 4, 64, 16, generator=g, dtype=dtype) for _ in range(3))
    mask = torch.zeros(2, 1, 64, 64, dtype=torch.bool)
    mask[..., 50:] = True  # padded cells
    mask[0, 0, 7] = True  # query 7 of example 0 sees nothing
    mask[1, 0, 63] = True
    return q, k, v, mask


def _grads(backend: str, q, k, v, mask):  # type: ignore[no-untyped-def]
    q, k, v = (t.clone().requires_grad_(True) for t in (q, k, v))
    out = masked_attention(q, k, v, mask, 0.0, backend)
    (out * torch.linspace(-1, 1, out.numel()).view_as(out)).sum().backward()
    return out.detach(), q.grad, k.grad, v.grad


def test_fully_masked_rows_never_reach_sdpa(spy: SdpaSpy) -> None:
    q, k, v, mask = _grid_case()
    masked_attention(q, k, v, mask, 0.0, "sdpa")
    (_, bias), *_ = spy.calls
    hidden = bias == mask_value(bias.dtype)
    assert hidden.any(), "the padding must still be masked"
    assert not hidden.all(dim=-1).any(), "a fully masked row reached the kernel"


def test_guarded_sdpa_has_finite_gradients_equal_to_the_explicit_path() -> None:
    q, k, v, mask = _grid_case()
    fast = _grads("sdpa", q, k, v, mask)
    slow = _grads("explicit", q, k, v, mask)
    for a, b in zip(fast, slow, strict=True):
        assert torch.isfinite(a).all()
        assert (a - b).abs().max() < 1e-5
    # The fully masked query takes the mean of V and gives q no gradient (as −1e9 filling).
    assert torch.allclose(fast[0][0, :, 7], v[0].mean(-2), atol=1e-6)
    assert torch.equal(fast[1][0, :, 7], torch.zeros_like(fast[1][0, :, 7]))


def _orders_case():
    g = torch.Generator().manual_seed(2)
    q, k, v = (torch.randn(3, 4, 16, 8, generator=g) for _ in range(3))
    masks = torch.rand(3, 3, 1, 16, 16, generator=g) > 0.5
    masks[2] = True  # an image of padding only: every query of every order fully masked
    return q, k, v, masks


def test_trar_orders_are_folded_into_one_4d_call(spy: SdpaSpy) -> None:
    q, k, v, masks = _orders_case()
    out = order_attention(q, k, v, masks, 0.0)
    assert out.shape == (3, 3, 4, 16, 8)
    assert [shape for shape, _ in spy.calls] == [torch.Size([9, 4, 16, 8])]


def test_trar_4d_fold_equals_the_5d_call() -> None:
    q, k, v, masks = _orders_case()
    folded = order_attention(q, k, v, masks, 0.0)
    five_d = masked_attention(
        *(t.unsqueeze(1).expand(-1, 3, -1, -1, -1) for t in (q, k, v)), masks, 0.0, "sdpa"
    )
    assert (folded - five_d).abs().max() < 1e-6
    # And each order equals its own masked attention (the official per-order maps).
    for order in range(3):
        ref = masked_attention(q, k, v, masks[:, order], 0.0, "explicit")
        assert (folded[:, order] - ref).abs().max() < 1e-5
