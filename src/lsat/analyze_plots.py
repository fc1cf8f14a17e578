"""The PNG figures of ``lsat analyze`` (matplotlib, Agg backend), one function each."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from lsat.io import atomic_path


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> None:
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=80)
    _plt().close(fig)


def routing_figure(path: Path, data: dict[str, Any]) -> None:
    """One heat map per layer: question types × orders, the mean router weight."""
    plt = _plt()
    layers, orders = data["layers"], data["orders"]
    types = list(data["by_type"])
    fig, axes = plt.subplots(
        1, len(layers), figsize=(2.2 + 2.4 * len(layers), 0.9 + 0.3 * len(types))
    )
    axes = np.atleast_1d(axes)
    for li, ax in enumerate(axes):
        grid = np.array([data["by_type"][t]["mean"][li] for t in types])
        ax.imshow(grid, vmin=0, vmax=1, cmap="viridis", aspect="auto")
        ax.set_xticks(range(len(orders)), [f"order {o}" for o in orders], fontsize=7)
        ax.set_yticks(range(len(types)), types if li == 0 else [""] * len(types), fontsize=7)
        ax.set_title(f"layer {li + 1}", fontsize=8)
        for (r, c), v in np.ndenumerate(grid):
            ax.text(c, r, f"{v:.2f}", ha="center", va="center", fontsize=6, color="white")
    fig.suptitle("TRAR routing weight per order (val, mean per question type)", fontsize=9)
    fig.tight_layout()
    _save(fig, path)


def gate_figure(path: Path, data: dict[str, Any]) -> None:
    """The mean local (intra-window) share per layer, overall and per question type."""
    plt = _plt()
    layers = range(1, len(data["layers"]) + 1)
    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.plot(layers, data["overall"], marker="o", color="black", label="all")
    for t, entry in data["by_type"].items():
        ax.plot(layers, entry["mean"], linestyle="--", alpha=0.7, label=t)
    ax.set(xlabel="layer", ylabel="gate (local share)", ylim=(0, 1))
    ax.set_title("LSAT local/global gate (val)", fontsize=9)
    ax.legend(fontsize=6)
    fig.tight_layout()
    _save(fig, path)


def attention_figure(path: Path, examples: list[dict[str, Any]], grid: int) -> None:
    """Each chosen question's image with the S×S attention drawn over it."""
    plt = _plt()
    fig, axes = plt.subplots(1, len(examples), figsize=(3 * len(examples), 3.4))
    axes = np.atleast_1d(axes)
    for ax, ex in zip(axes, examples, strict=True):
        att = np.asarray(ex["attention"]).reshape(grid, grid)
        image = ex.get("image")
        if image is not None:
            from PIL import Image

            with Image.open(image) as im:
                pixels = np.asarray(im.convert("RGB"))
            h, w = pixels.shape[:2]
            ax.imshow(pixels)
            ax.imshow(
                att,
                cmap="jet",
                alpha=0.45,
                extent=(-0.5, w - 0.5, h - 0.5, -0.5),
                interpolation="nearest",
            )
        else:
            ax.imshow(att, cmap="jet", interpolation="nearest")
        ax.set_axis_off()
        ax.set_title(
            f"{ex['question']}\npred {ex['prediction']!r}, answer {ex['answer']!r}", fontsize=7
        )
    fig.tight_layout()
    _save(fig, path)
