"""TRAR's order windows and LSAT's window partition."""

from __future__ import annotations

import pytest
import torch

from lsat.models.lsat import WindowLayout, window_ids
from lsat.models.trar import OrderMasks, order_mask


@pytest.mark.parametrize(
    ("order", "lo", "hi", "mean"), [(1, 4, 9, 7.56), (2, 9, 25, 18.06), (3, 16, 49, 30.25)]
)
def test_order_windows_on_8x8(order: int, lo: int, hi: int, mean: float) -> None:
    visible = (~order_mask(8, order)).sum(-1).float()
    assert visible.min() == lo and visible.max() == hi
    assert visible.mean().item() == pytest.approx(mean, abs=0.005)


def test_order_zero_is_global_and_window_is_symmetric() -> None:
    assert not order_mask(8, 0).any()
    m = order_mask(5, 1)
    assert torch.equal(m, m.T)
    # Cell (2, 2) = index 12 sees exactly its 3×3 neighbourhood.
    seen = (~m[12]).nonzero().flatten().tolist()
    assert seen == [6, 7, 8, 11, 12, 13, 16, 17, 18]


def test_order_masks_or_padding() -> None:
    pad = torch.zeros(2, 1, 1, 16, dtype=torch.bool)
    pad[1, ..., 5] = True
    masks = OrderMasks(4, (0, 1))(pad)
    assert masks.shape == (2, 2, 1, 16, 16)
    assert not masks[0, 0].any() and masks[1, 0, 0, :, 5].all()
    assert masks[1, 1, 0, :, 5].all() and torch.equal(masks[0, 1, 0], order_mask(4, 1))


def test_window_ids_uneven_last_window() -> None:
    ids = window_ids(5, 2).view(5, 5)
    expected = torch.tensor(
        [[0, 0, 1, 1, 2], [0, 0, 1, 1, 2], [3, 3, 4, 4, 5], [3, 3, 4, 4, 5], [6, 6, 7, 7, 8]]
    )
    assert torch.equal(ids, expected)
    sizes = torch.bincount(window_ids(14, 4))
    assert sizes.tolist() == [16, 16, 16, 8] * 3 + [8, 8, 8, 4]


def test_window_layout_masks_and_pooling() -> None:
    layout = WindowLayout(4, 2)
    pad = torch.zeros(2, 1, 1, 16, dtype=torch.bool)
    pad[1, 0, 0, [0, 1, 4]] = True  # three of window 0's four cells
    pad[1, 0, 0, [10, 11, 14, 15]] = True  # all of window 3
    m = layout(pad)
    assert m.intra.shape == (2, 1, 16, 16) and m.pool.shape == (2, 1, 4, 16)
    # Query 0 (window 0) sees only window 0's cells 0, 1, 4, 5.
    assert (~m.intra[0, 0, 0]).nonzero().flatten().tolist() == [0, 1, 4, 5]
    assert (~m.intra[1, 0, 0]).nonzero().flatten().tolist() == [5]
    # Window means exclude padding; an all-padding window is hidden from inter attention.
    assert torch.allclose(m.pool[0, 0].sum(-1), torch.ones(4))
    assert m.pool[1, 0, 0].nonzero().flatten().tolist() == [5] and m.pool[1, 0, 0, 5] == 1
    assert m.pool[1, 0, 3].sum() == 0
    assert m.inter[1, 0, 0].tolist() == [False, False, False, True]
    assert not m.inter[0].any()
    assert "member" not in layout.state_dict()
