"""Without tqdm or matplotlib the commands still run: silent bars, no curves figure."""

from __future__ import annotations

import sys

from lsat import progress
from lsat.engine.report import write_curves


def test_silent_bar_without_tqdm(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setitem(sys.modules, "tqdm", None)
    assert list(progress.tqdm([1, 2, 3], desc="x", leave=False)) == [1, 2, 3]
    with progress.tqdm(total=5, unit="img") as bar:
        bar.update(2)
    bar.close()
    assert list(progress.tqdm(total=2)) == []


def test_real_bar_with_tqdm() -> None:
    import tqdm

    bar = progress.tqdm([1], disable=True)
    assert isinstance(bar, tqdm.tqdm) and list(bar) == [1]


def test_curves_skipped_without_matplotlib(monkeypatch, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    write_curves(tmp_path / "curves.png", [{"epoch": 1, "loss": 1.0, "val": None}])
    assert not (tmp_path / "curves.png").exists()
    assert "matplotlib is not installed" in capsys.readouterr().err
