"""What a run tells the user: metrics.json, log.txt and curves.png, rewritten atomically.

The history lives in memory (and in every checkpoint), and each file is rewritten whole
after every epoch, so a resumed run continues the same log and an interrupted one never
leaves half a line.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from lsat.engine.layout import RunLayout
from lsat.formats import breakdown
from lsat.io import atomic_path, write_json_atomic, write_text_atomic
from lsat.provenance import device_name
from lsat.settings import TrainSettings


def epoch_line(rec: dict[str, Any]) -> str:
    """One human-readable line per epoch."""
    parts = [
        f"epoch {rec['epoch']:>3}",
        f"loss {rec['loss']:.5f}",
        f"lr {rec['lr']:.3g}",
        f"{rec['samples_per_s']:.1f} samples/s",
        f"{rec['seconds']:.1f}s",
    ]
    if rec.get("tau") is not None:
        parts.append(f"tau {rec['tau']:.3g}")
    val = rec.get("val")
    if val:
        types = breakdown(val)
        detail = ", ".join(f"{k} {v:.2f}" for k, v in types.items())
        parts.append(f"val {val['overall']:.2f}" + (f" ({detail})" if detail else ""))
    return " | ".join(parts)


def precision_note(amp: str, device_type: str) -> str:
    """What arithmetic the run really uses (autocast is off where the engine skips it)."""
    if amp == "bf16" and device_type in ("cuda", "cpu"):
        return "bf16 autocast (fp32 weights and optimizer)"
    if amp == "fp16" and device_type == "cuda":
        return "fp16 autocast with loss scaling (fp32 weights)"
    if amp == "fp16":
        return "fp32 (train.amp fp16 runs only on CUDA)"
    return "fp32"


def run_facts(model: Any, train: TrainSettings, world: int, device: Any) -> list[str]:
    """The lines a log reader needs first: parameters, device, precision, effective batch."""
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    batch, accu = train.batch_size, train.grad_accu_steps
    per_rank = batch // max(world, 1)
    return [
        f"parameters: {total:,} ({trainable:,} trainable)",
        f"device: {device} ({device_name(device)}), {world} process(es)",
        f"precision: {precision_note(train.amp, device.type)}",
        f"effective batch: {batch} questions per optimizer step = {world} process(es) x "
        f"{per_rank} x {accu} accumulation step(s) of {per_rank // max(accu, 1)}",
    ]


def write_reports(layout: RunLayout, summary: dict[str, Any], log_lines: list[str]) -> None:
    write_json_atomic(layout.metrics, summary)
    write_text_atomic(layout.epochs_tsv, epochs_tsv(summary["epochs"]))
    write_text_atomic(layout.log, "\n".join(log_lines) + "\n")


def epochs_tsv(epochs: list[dict[str, Any]]) -> str:
    """One row per epoch (loss, lr, speed, τ, val accuracy overall and per type): the
    per-epoch metrics in the flat form `dvc plots` reads."""
    types: list[str] = []
    for rec in epochs:
        val = rec.get("val") or {}
        for t in breakdown(val):
            if t not in types:
                types.append(t)
    header = ["epoch", "loss", "lr", "seconds", "samples_per_s", "tau", "val_overall"]
    rows = ["\t".join(header + [f"val_{t}".replace(" ", "_") for t in types])]
    for rec in epochs:
        val = rec.get("val") or {}
        detail = breakdown(val)
        cells = [rec["epoch"], rec["loss"], rec["lr"], rec["seconds"], rec["samples_per_s"]]
        cells += [rec.get("tau"), val.get("overall")] + [detail.get(t) for t in types]
        rows.append("\t".join("" if c is None else f"{c:.6g}" for c in cells))
    return "\n".join(rows) + "\n"


def write_curves(path: Path, epochs: list[dict[str, Any]]) -> None:
    """Loss and validation accuracy against the epoch (matplotlib, Agg backend).

    Without matplotlib (a bare GPU image) the figure is skipped with a warning: it is a
    picture of metrics.json, which is always written.
    """
    try:
        import matplotlib
    except ImportError:
        print(f"lsat: warning: matplotlib is not installed; {path} not drawn", file=sys.stderr)
        return

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 2, figsize=(9, 3.5))
    xs = [r["epoch"] for r in epochs]
    ax[0].plot(xs, [r["loss"] for r in epochs], marker="o")
    ax[0].set(xlabel="epoch", ylabel="training loss per question", title="loss")
    vals = [(r["epoch"], r["val"]) for r in epochs if r.get("val")]
    if vals:
        ax[1].plot([e for e, _ in vals], [v["overall"] for _, v in vals], marker="o", label="all")
        types = breakdown(vals[0][1])
        for t in types:
            ys = [breakdown(v).get(t) for _, v in vals]
            ax[1].plot([e for e, _ in vals], ys, linestyle="--", label=t)
        ax[1].legend(fontsize=7)
    else:
        ax[1].text(0.5, 0.5, "no validation\n(val is in the training split)", ha="center")
    ax[1].set(xlabel="epoch", ylabel="accuracy (%)", title="validation")
    fig.tight_layout()
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=80)
    plt.close(fig)
