"""The CPU dropout mask: rate, scaling, gradient, reproducibility and its fall-backs."""

import pytest
import torch
import torch.nn.functional as F

from lsat.models import kernels as fast
from lsat.models.kernels import dropout, keep_mask, relu_dropout
from lsat.models.layers import Dropout


@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
def test_each_lane_keeps_one_minus_p(p: float) -> None:
    torch.manual_seed(0)
    kept = keep_mask((300_000,), p).float()
    # Elements i, i+3, ... come from the same 16-bit lane of their 64-bit draw: a lane
    # with a stuck bit (the top lane of random_()'s [0, 2^63) words) would be far off.
    for lane in range(3):
        assert kept[lane::3].mean().item() == pytest.approx(1 - p, abs=0.006)


def test_expectation_and_gradient_match_torch_dropout() -> None:
    torch.manual_seed(1)
    x = torch.ones(200_000, requires_grad=True)
    out = dropout(x, 0.1, training=True)
    assert out.mean().item() == pytest.approx(1.0, abs=0.01)
    survivors = out[out != 0]
    assert torch.allclose(survivors, torch.full_like(survivors, 1 / (1 - 6554 / 65536)))
    out.sum().backward()
    assert torch.equal(x.grad, out.detach())  # d out / d x = keep · scale = out for x = 1


def test_same_seed_same_mask_and_eval_is_identity() -> None:
    layer = Dropout(0.3)
    x = torch.randn(4, 7, 5)
    torch.manual_seed(5)
    a = layer(x)
    torch.manual_seed(5)
    assert torch.equal(a, layer(x))
    assert not torch.equal(a, layer(x))
    layer.eval()
    assert torch.equal(layer(x), x)


def test_edge_rates_and_switch_fall_back_to_torch(monkeypatch: pytest.MonkeyPatch) -> None:
    x = torch.randn(64, 32)
    assert torch.equal(dropout(x, 0.0), x)
    assert not dropout(x, 1.0).any()
    monkeypatch.setattr(fast, "FAST_CPU_DROPOUT", False)
    torch.manual_seed(2)
    a = dropout(x, 0.25)
    torch.manual_seed(2)
    assert torch.equal(a, F.dropout(x, 0.25, True))


def test_fused_relu_dropout_equals_dropout_of_relu() -> None:
    x = torch.randn(6, 5, 40, requires_grad=True)
    y = x.detach().clone().requires_grad_(True)
    torch.manual_seed(3)
    fused = relu_dropout(x, 0.2)
    torch.manual_seed(3)
    reference = dropout(F.relu(y), 0.2)
    assert torch.equal(fused, reference)
    g = torch.randn_like(fused)
    fused.backward(g)
    reference.backward(g)
    assert torch.equal(x.grad, y.grad)
    assert torch.equal(relu_dropout(x, 0.2, training=False), F.relu(x))
