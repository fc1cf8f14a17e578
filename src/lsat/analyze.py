"""``lsat analyze``: the figures papers on TRAR and LSAT show, from a trained run.

- TRAR: the router's weights over the attention spans (orders) per decoder layer,
  averaged per question type (VQA ``question_type``, CLEVR category): which questions
  route to global (order 0) and which to local attention.
- LSAT: the local/global gate σ(Linear(x)) per layer (the share of intra-window
  attention), overall and per question type.
- Any model: the image attention of the answer head (``attflat_img``) over the S×S grid
  for chosen questions, drawn on the image.

The numbers come from forward hooks on the modules that compute them, in eval mode on the
val set; each figure is a PNG with its numbers beside it as JSON, in the run's
``analysis/`` folder, which ``lsat summary``'s HTML page includes.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from lsat import analyze_plots as plots
from lsat.data.readers import reader
from lsat.engine.batches import eval_steps
from lsat.engine.fit import _build_data, load_run_config
from lsat.engine.predict import load_checkpoint_model, predict_answers
from lsat.errors import LsatError
from lsat.features.inputs import list_inputs
from lsat.io import write_json_atomic
from lsat.models.lsat import WindowAttention
from lsat.models.trar import RoutingBlock
from lsat.paths import image_dir

if TYPE_CHECKING:
    from lsat.config import DatasetConfig
    from lsat.data.contract import QAData
    from lsat.data.dataset import QADataset


class Recorder:
    """Forward hooks collecting router weights, LSAT gates and the image attention."""

    def __init__(self, model: nn.Module) -> None:
        self.routing: dict[str, list[np.ndarray]] = defaultdict(list)
        self.gates: dict[str, list[np.ndarray]] = defaultdict(list)
        self.attention: list[np.ndarray] = []
        self._handles: list[torch.utils.hooks.RemovableHandle] = []
        for name, mod in model.named_modules():
            if isinstance(mod, RoutingBlock):
                self._hook(mod, self._store(self.routing, name, lambda out: out))
            elif isinstance(mod, WindowAttention):
                # (B, N, heads) gate logits → share of intra-window attention per question
                self._hook(mod.gate, self._store(self.gates, name, _gate_share))
        flat = getattr(model, "attflat_img", None)
        if flat is not None:
            self._hook(flat.mlp, lambda _m, _i, out: self._last_logits(out))
        self._mask: torch.Tensor | None = None

    def _hook(self, mod: nn.Module, fn: Any) -> None:
        self._handles.append(mod.register_forward_hook(fn))

    @staticmethod
    def _store(where: dict[str, list[np.ndarray]], name: str, fn: Any) -> Any:
        def hook(_mod: nn.Module, _inp: Any, out: torch.Tensor) -> None:
            where[name].append(fn(out).detach().float().cpu().numpy())

        return hook

    def _last_logits(self, out: torch.Tensor) -> None:
        logits = out.float()  # (B, N, glimpses)
        if self._mask is not None:
            logits = logits.masked_fill(self._mask[..., None], -1e9)
        att = torch.softmax(logits, dim=1).mean(dim=-1)  # (B, N), glimpses averaged
        self.attention.append(att.detach().cpu().numpy())

    def set_mask(self, img_feat: torch.Tensor) -> None:
        self._mask = img_feat.abs().sum(-1) == 0

    def close(self) -> None:
        for h in self._handles:
            h.remove()


def _gate_share(out: torch.Tensor) -> torch.Tensor:
    return torch.sigmoid(out.float()).mean(dim=(1, 2))


@contextmanager
def recording(model: nn.Module) -> Iterator[Recorder]:
    rec = Recorder(model)
    try:
        yield rec
    finally:
        rec.close()


@torch.no_grad()
def record(model: nn.Module, data: QAData, device: torch.device, batch_size: int) -> Recorder:
    """Run ``model`` over every example of ``data`` in eval mode, recording as it goes."""
    model.eval()
    with recording(model) as rec:
        for idx in eval_steps(len(data), batch_size):
            batch = data.read_batch(idx)
            feat = torch.as_tensor(batch["img_feat"], device=device).float()
            rec.set_mask(feat)
            model(feat, torch.as_tensor(batch["ques_ix"], device=device))
    return rec


def by_type(values: np.ndarray, types: list[str]) -> dict[str, dict[str, Any]]:
    """Mean of ``values`` (Q, ...) per question type, with counts, types sorted."""
    out: dict[str, dict[str, Any]] = {}
    arr = np.asarray(types)
    for t in sorted(set(types)):
        sel = values[arr == t]
        out[t] = {"n": len(sel), "mean": np.round(sel.mean(axis=0), 6).tolist()}
    return out


def question_types(ds: DatasetConfig) -> dict[int, str]:
    """{val question id: its type}: VQA ``question_type`` (else answer type), CLEVR category."""
    return reader(ds.fmt).question_types(ds.raw_dir, "val")


def _images(ds: DatasetConfig) -> dict[int, Path]:
    folder = image_dir(ds.raw_dir, ds.format, ds.fmt.image_set("val"))
    if not folder.is_dir():
        return {}
    return dict(list_inputs(folder, (".png", ".jpg", ".jpeg"), "val images"))


def summarise(rec: Recorder, types: list[str], orders: list[int]) -> dict[str, Any]:
    """The JSON of each figure from what the hooks recorded (one entry per layer)."""
    out: dict[str, Any] = {}
    if rec.routing:
        layers = list(rec.routing)
        stacked = np.stack([np.concatenate(rec.routing[n]) for n in layers], axis=1)  # (Q, L, O)
        out["routing"] = {
            "orders": orders,
            "layers": layers,
            "overall": np.round(stacked.mean(axis=0), 6).tolist(),
            "by_type": by_type(stacked, types),
        }
    if rec.gates:
        layers = list(rec.gates)
        stacked = np.stack([np.concatenate(rec.gates[n]) for n in layers], axis=1)  # (Q, L)
        out["gates"] = {
            "layers": layers,
            "overall": np.round(stacked.mean(axis=0), 6).tolist(),
            "by_type": by_type(stacked, types),
        }
    return out


def analyze_run(
    config: str | Path,
    dataset: str,
    split: str,
    run: str | None = None,
    qids: list[int] | None = None,
    examples: int = 4,
    out: str | Path | None = None,
) -> dict[str, Path]:
    """Write the figures and their JSON for one trained run; return {figure: path}."""
    ds, chosen = load_run_config(config, dataset, [], run)
    folder = Path(out) if out else ds.paths.run_dir(split, chosen.id) / "analysis"
    data = _build_data(ds, ["val"], "ram")
    device = torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")
    model, _ = load_checkpoint_model(ds.paths.final_model(split, chosen.id), ds, data, device)
    rec = record(model, data, device, ds.train.batch_size)
    qtypes = question_types(ds)
    types = [qtypes.get(int(q), "unknown") for q in data.question_ids]
    orders = [int(o) for o in getattr(getattr(model, "cfg", None), "orders", ())]
    numbers = summarise(rec, types, orders)
    written: dict[str, Path] = {}
    for key, draw in (("routing", plots.routing_figure), ("gates", plots.gate_figure)):
        if key in numbers:
            write_json_atomic(folder / f"{key}.json", numbers[key])
            draw(folder / f"{key}.png", numbers[key])
            written[key] = folder / f"{key}.png"
    if rec.attention:
        chosen_ex = _examples(
            ds, data, model, device, np.concatenate(rec.attention), qids, examples
        )
        write_json_atomic(folder / "attention.json", chosen_ex)
        plots.attention_figure(folder / "attention.png", chosen_ex, int(data.grid))
        written["attention"] = folder / "attention.png"
    return written


def _examples(
    ds: DatasetConfig,
    data: QADataset,
    model: nn.Module,
    device: torch.device,
    att: np.ndarray,
    qids: list[int] | None,
    count: int,
) -> list[dict[str, Any]]:
    index = {int(q): i for i, q in enumerate(data.question_ids)}
    wanted = qids or [int(q) for q in data.question_ids[:count]]
    missing = [q for q in wanted if q not in index]
    if missing:
        raise LsatError(f"--qid {missing}: not val question ids of dataset {ds.name!r}")
    preds = predict_answers(model, data, device, batch_size=ds.train.batch_size)
    images = _images(ds)
    out = []
    for q in wanted:
        item = data.questions[index[q]]
        out.append(
            {
                "question_id": q,
                "question": item.question,
                "answer": item.answer,
                "prediction": preds[q],
                "image": str(images[item.image_id]) if item.image_id in images else None,
                "grid": int(data.grid),
                "attention": np.round(att[index[q]], 6).tolist(),
            }
        )
    return out
