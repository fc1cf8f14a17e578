"""What the image self-attentions can see: TRAR's spans and LSAT's windows."""

from __future__ import annotations

import torch

from lsat.models.lsat import WindowAttention, WindowLayout
from lsat.models.trar import OrderMasks, SARoutingBlock

HIDDEN, HEADS, SCALE = 16, 2, 4


def _changed_cells(layer, masks_of, x: torch.Tensor, far: int) -> torch.Tensor:
    """Which output cells change when input cell ``far`` changes."""
    pad = torch.zeros(1, 1, 1, SCALE * SCALE, dtype=torch.bool)
    x2 = x.clone()
    x2[0, far] += 5.0
    tau = torch.tensor(1.0)
    with torch.no_grad():
        a, b = layer(x, masks_of(pad), tau), layer(x2, masks_of(pad), tau)
    return (a - b).abs().amax(-1)[0] > 1e-6


def test_trar_order_one_only_sees_the_neighbourhood() -> None:
    layer = SARoutingBlock(HIDDEN, HEADS, 0.0, 2, "fc", "hard", binarize=True).eval()
    masks = OrderMasks(SCALE, (0, 1))
    x = torch.randn(1, SCALE * SCALE, HIDDEN)
    router = layer.routing_block.mlp[2]
    with torch.no_grad():
        router.weight.zero_()
        router.bias.copy_(torch.tensor([0.0, 5.0]))  # always pick order 1
    # Only the cells within one step of cell 15 = (3, 3) see it.
    changed = _changed_cells(layer, masks, x, far=15)
    assert changed.nonzero().flatten().tolist() == [10, 11, 14, 15]
    with torch.no_grad():
        router.bias.copy_(torch.tensor([5.0, 0.0]))  # global order: everything changes
    assert _changed_cells(layer, masks, x, far=15).all()


def test_lsat_windows_are_local_and_summaries_cross_windows() -> None:
    layer = WindowAttention(HIDDEN, HEADS, 0.0).eval()
    layout = WindowLayout(SCALE, 2)
    x = torch.randn(1, SCALE * SCALE, HIDDEN)
    with torch.no_grad():
        layer.gate.weight.zero_()
        layer.gate.bias.fill_(50.0)  # intra-window only
    changed = _changed_cells(layer, layout, x, far=15)
    assert changed.nonzero().flatten().tolist() == [10, 11, 14, 15]  # cell 15's window
    with torch.no_grad():
        layer.gate.bias.fill_(0.0)  # both branches: window 3's summary reaches every cell
    assert _changed_cells(layer, layout, x, far=15).all()
