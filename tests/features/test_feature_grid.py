"""Grid pre-processing: TRAR pad/crop + max-pool and the CLEVR 14×14 map."""

import pytest
import torch

from lsat.errors import LsatError
from lsat.features.grid import (
    clevr_grid,
    imagenet_normalize,
    landscape,
    pad_or_crop,
    to_cells,
    trar_grid,
    trar_normalize,
)


def test_pad_is_centred_zero_and_crop_keeps_the_first_32():
    """TRAR's Padding2D (utils.py): centred padding, but a longer side keeps [:32]."""
    x = torch.ones(1, 2, 10, 20)
    y = pad_or_crop(x, 32)
    assert y.shape == (1, 2, 32, 32)
    assert y[0, 0, 11:21, 6:26].eq(1).all()
    assert y.sum() == x.sum()
    big = torch.arange(40.0).view(1, 1, 1, 40).expand(1, 1, 40, 40)
    cropped = pad_or_crop(big, 32)
    assert cropped.shape == (1, 1, 32, 32)
    assert cropped[0, 0, 0, 0] == 0 and cropped[0, 0, 0, -1] == 31


def test_portrait_map_is_transposed_first():
    """TRAR's Transpose_tensor: a (25, 19) map gives the cells of its (19, 25) transpose.
    (Checked against the official TRAR_Preprocess on 11 shapes, grids 8 and 16, while
    writing this: identical to the last bit.)"""
    torch.manual_seed(0)
    x = torch.rand(1, 3, 25, 19) + 0.5
    assert torch.equal(trar_grid(x, 8), trar_grid(x.transpose(2, 3), 8))
    assert torch.equal(landscape(x), x.transpose(2, 3))
    wide = torch.rand(1, 3, 19, 25)
    assert landscape(wide) is wide
    # a tall map longer than 32: transposed, then its first 32 columns kept
    tall = torch.arange(40.0).view(1, 1, 40, 1).expand(1, 1, 40, 10).contiguous()
    canvas = pad_or_crop(landscape(tall))
    assert canvas[0, 0, 11, :].tolist() == list(range(32))


def test_trar_normalize_is_bgr_minus_detectron2_mean():
    rgb = torch.tensor([10.0, 20.0, 30.0]).view(1, 3, 1, 1)
    out = trar_normalize(rgb).flatten().tolist()
    assert out == pytest.approx([30 - 103.530, 20 - 116.280, 10 - 123.675])


@pytest.mark.parametrize("grid", [8, 16])
def test_trar_grid_padding_cells_exactly_zero(grid):
    torch.manual_seed(0)
    x = torch.rand(2, 3, 19, 25) + 0.5  # like a ResNeXt conv5 map of a 600×800 image
    cells = trar_grid(x, grid)
    assert cells.shape == (2, grid * grid, 3)
    k = 32 // grid
    # Rows of the 32 canvas holding data: 6..24; columns 3..27. A cell is padding iff its
    # k×k block misses them all.
    for i in range(grid):
        for j in range(grid):
            rows = range(i * k, (i + 1) * k)
            cols = range(j * k, (j + 1) * k)
            data = any(6 <= r < 25 for r in rows) and any(3 <= c < 28 for c in cols)
            cell = cells[:, i * grid + j]
            assert bool(cell.eq(0).all()) is (not data)
            assert bool(cell.gt(0).all()) is data


def test_trar_grid_is_max_pool_in_row_major_order():
    x = torch.zeros(1, 1, 32, 32)
    x[0, 0, 4, 9] = 7.0  # 8×8 grid: cell row 1, column 2
    cells = trar_grid(x, 8)
    assert cells[0, 1 * 8 + 2, 0] == 7.0 and cells.sum() == 7.0
    with pytest.raises(LsatError, match="must divide 32"):
        trar_grid(x, 7)


def test_clevr_grid_and_helpers():
    x = torch.randn(2, 6, 14, 14)
    cells = clevr_grid(x)
    assert cells.shape == (2, 196, 6)
    assert torch.equal(cells[1, 3 * 14 + 5], x[1, :, 3, 5])
    with pytest.raises(LsatError, match=r"expects a \(B, C, 14, 14\) map .* got shape"):
        clevr_grid(torch.zeros(1, 6, 7, 7))
    assert to_cells(torch.zeros(1, 4, 2, 3)).shape == (1, 6, 4)
    gray = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1).expand(1, 3, 2, 2)
    assert imagenet_normalize(gray).abs().max() < 1e-6
