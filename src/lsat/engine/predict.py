"""Batched inference and the files made from it: val predictions + metrics, test results.

The model is rebuilt from the description stored in ``model.pt`` (name, format, sizes and
options), so predicting never depends on the command-line overrides used in training; the
vocabulary and answer files of the dataset must have the sizes the model was trained with.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from lsat import progress, provenance
from lsat.config import DatasetConfig
from lsat.data.contract import QAData
from lsat.engine import checkpoint as ckpt_io
from lsat.engine.batches import BatchSource, eval_steps
from lsat.engine.device import autocast_dtype
from lsat.engine.evaluation import Scorer, val_scorer
from lsat.engine.finetune import run_parts
from lsat.engine.results import test_ids, write_clevr_text, write_result
from lsat.errors import LsatError
from lsat.io import write_json_atomic
from lsat.models import build_model, build_model_for_data
from lsat.models.official import apply_checkpoint, check_lists, strip_module_prefix
from lsat.recipe import label_metrics


def predict_indices(
    model: nn.Module,
    dataset: QAData,
    device: torch.device,
    batch_size: int,
    residency: str = "disk",
    num_workers: int = 0,
    source: BatchSource | None = None,
    amp: str = "none",
) -> np.ndarray:
    """Answer index of every question of ``dataset`` (its order), in eval mode.

    ``source`` reuses a batch source (its bank stays where it was uploaded); ``amp`` is the
    resolved autocast setting (bf16 on a GPU by default). Runs under ``inference_mode``,
    and the answers stay on the device until the last batch (one copy to the host).
    """
    was_training = model.training
    model.eval()
    source = source or BatchSource(dataset, residency, device, num_workers)
    steps = eval_steps(len(dataset), batch_size)
    outs = []
    bar = progress.bar(source.batches(steps), total=len(steps), desc="predict", leave=False)
    dtype = autocast_dtype(amp, device)
    with torch.inference_mode(), torch.autocast(device.type, dtype, enabled=dtype is not None):
        for batch in bar:
            outs.append(model(batch["img_feat"], batch["ques_ix"]).argmax(dim=1))
    model.train(was_training)
    if not outs:
        return np.zeros(0, dtype=np.int64)
    return torch.cat(outs).cpu().numpy()


def predict_answers(
    model: nn.Module, dataset: QAData, device: torch.device, **kw: Any
) -> dict[int, str]:
    """{question id: answer string} for every question of ``dataset``."""
    ix = predict_indices(model, dataset, device, **kw)
    answers = dataset.answers
    return {int(q): answers[int(a)] for q, a in zip(dataset.question_ids, ix, strict=True)}


def val_evaluator(ds: DatasetConfig) -> Scorer:
    """A function scoring {qid: answer} on the dataset's val set (answers read once)."""
    return val_scorer(ds.fmt, ds.raw_dir, ds.eval_version)


def _from_meta(ck: dict[str, Any], meta: dict[str, Any]) -> nn.Module:
    model = build_model(
        meta["name"],
        format=meta["format"],
        token_size=meta["token_size"],
        answer_size=meta["answer_size"],
        **meta["options"],
    )
    model.load_state_dict(strip_module_prefix(dict(ck["state_dict"])))
    return model


def load_checkpoint_model(
    path: Path, ds: DatasetConfig, data: QAData, device: torch.device
) -> tuple[nn.Module, dict[str, Any]]:
    """The network of any checkpoint: ours (``model.pt``, ``epochN.pkl`` of run.py) or an
    official openvqa/TRAR ``epochN.pkl`` (``state_dict`` with or without DataParallel's
    ``module.`` prefix, ``optimizer``, ``lr_base``, ``epoch``).

    Ours describe their network; an official one is built from the dataset's config
    (``model.name`` and ``model.options``, input sizes from the features), checked against
    the vocabulary and answer list, and loaded strictly.
    """
    ck = ckpt_io.load(path)
    meta = ck.get("model_meta")
    if meta:
        check_sizes(meta, data, path, ds)
        settings = ck.get("settings")
        if not isinstance(settings, dict):
            settings = {}
        return _from_meta(ck, meta).to(device), {
            **meta,
            "trained_on": settings.get("split"),
            "training_provenance": ck.get("provenance"),
        }
    model, options = build_model_for_data(
        ds.model["name"], ds.format, ds.model.get("options"), data
    )
    apply_checkpoint(ck, path, model, ds.paths.vocab, ds.paths.answers)
    meta = {"name": ds.model["name"], "format": ds.format, "options": options}
    meta.update(token_size=int(data.token_size), answer_size=int(data.num_answers))
    return model.to(device), meta


def check_sizes(meta: dict[str, Any], dataset: QAData, model_path: Path, ds: DatasetConfig) -> None:
    """The vocabulary and answer list must be the model's: sizes, then content hashes."""
    for what, have, want, file in (
        ("vocabulary", dataset.token_size, meta["token_size"], ds.paths.vocab),
        ("answer list", dataset.num_answers, meta["answer_size"], ds.paths.answers),
    ):
        if have != want:
            raise LsatError(
                f"{model_path} was trained with a {what} of {want} entries but {file} has "
                f"{have}: rebuild the vocabulary the model was trained with or retrain"
            )
    check_lists(meta, ds.paths.vocab, ds.paths.answers, model_path)


def write_predictions(
    ds: DatasetConfig,
    split: str,
    on: str,
    answers: dict[int, str],
    out: Path | None,
    metrics_out: Path | None = None,
    trained_on: str | None = None,
    noisy: tuple[float, int, dict[int, str]] | None = None,
    prov: dict[str, Any] | None = None,
    run: str = "",
) -> dict[str, Any]:
    """Write the files of ``lsat predict``; return what was written (paths, metrics).

    Val metrics name the split the model trained on (``trained_on``, from our checkpoint's
    settings; None for an official one, whose training split the file does not say).
    Result files keep the official format, so their provenance goes to a sidecar
    (``X.provenance.json``); the val metrics carry it inside."""
    entries = [{"question_id": q, "answer": a} for q, a in sorted(answers.items())]
    if on != "val":
        return _write_test(ds, answers, entries, out, prov)
    path = out or ds.paths.val_predictions(split, run)
    write_result(path, entries, list(answers))
    _write_sidecar(path, prov)
    metrics = _val_metrics(ds, answers, trained_on, noisy)
    if prov is not None:
        metrics["provenance"] = provenance.finish(prov)
    write_json_atomic(metrics_out or ds.paths.val_metrics(split, run), metrics)
    return {"predictions": str(path), "metrics": metrics}


def _val_metrics(
    ds: DatasetConfig,
    answers: dict[int, str],
    trained_on: str | None,
    noisy: tuple[float, int, dict[int, str]] | None,
) -> dict[str, Any]:
    """Val scores labelled with the training split, and the noisy hard-routing scores."""
    metrics = val_evaluator(ds)(answers)
    if trained_on is None:
        metrics = {**metrics, "trained_on": None, "val_seen_in_training": None}
        metrics["val"] = "unknown (the checkpoint does not record its training split)"
    else:
        metrics = label_metrics(metrics, trained_on, run_parts(ds, trained_on))
    if noisy is not None:
        tau, seed, noisy_answers = noisy
        scored = val_evaluator(ds)(noisy_answers)
        keep = ("overall", ds.fmt.breakdown, "perQuestionType")
        metrics["gumbel_eval"] = {
            "what": "the official test of hard routing: Gumbel noise at tau (TAU_MAX)",
            "tau": tau,
            "seed": seed,
            **{k: scored[k] for k in keep if k in scored},
        }
    return metrics


def _write_test(
    ds: DatasetConfig,
    answers: dict[int, str],
    entries: list[dict[str, Any]],
    out: Path | None,
    prov: dict[str, Any] | None,
) -> dict[str, Any]:
    """The EvalAI result file (checked against every test question id) and CLEVR's text."""
    ids = test_ids(ds.fmt, ds.fmt.question_file(ds.raw_dir, "test"))
    path = out or ds.paths.result_test
    write_result(path, entries, ids)
    _write_sidecar(path, prov)
    written = {"predictions": str(path)}
    if ds.fmt.text_result:
        txt = path.with_suffix(".txt") if out else ds.paths.result_test_clevr_txt
        write_clevr_text(txt, [answers[q] for q in sorted(ids)])
        written["text"] = str(txt)
    return written


def _write_sidecar(path: Path, prov: dict[str, Any] | None) -> None:
    if prov is not None:
        write_json_atomic(provenance.sidecar_path(path), provenance.finish(prov))
