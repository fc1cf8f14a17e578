"""From a config to a trained run, and from a trained run to predictions.

These two functions are the only code path behind ``lsat train``/``lsat predict`` and
run.py: they read the dataset's settings (with ``--set`` overrides relative to the
dataset), build the data (:func:`lsat.data.dataset.build_dataset`) and the network
(:func:`lsat.models.build_model`), and hand them to :mod:`lsat.engine.trainer`.
"""

from __future__ import annotations

import contextlib
import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from lsat import provenance
from lsat.config import DatasetConfig, dataset_config, load_config, parse_override
from lsat.data.dataset import build_dataset
from lsat.data.glove import cache_paths, check_glove, vocab_embedding
from lsat.engine import distributed
from lsat.engine.batches import BatchSource
from lsat.engine.cpu import configure_cpu
from lsat.engine.device import resolve_train
from lsat.engine.finetune import finetune_config, is_finetune, run_parts
from lsat.engine.finetune import start_note as finetune_start_note
from lsat.engine.hooks import hooks_from_env
from lsat.engine.layout import RunLayout
from lsat.engine.predict import (
    load_checkpoint_model,
    predict_answers,
    val_evaluator,
    write_predictions,
)
from lsat.engine.report import run_facts
from lsat.engine.results import check_full_test
from lsat.engine.resume import ResumeMode, check_mode
from lsat.engine.runlock import run_lock
from lsat.engine.trainer import TrainSpec, seed_everything, train
from lsat.errors import LsatError
from lsat.io import parsed_once
from lsat.models import build_model_for_data
from lsat.models.official import list_digests
from lsat.models.trar import set_eval_gumbel
from lsat.provenance import now
from lsat.runs import Run
from lsat.runs import find as find_run
from lsat.settings import TrainSettings, as_plain, weight_settings

if TYPE_CHECKING:
    from lsat.data.contract import QAData
    from lsat.data.dataset import QADataset


def load_dataset_config(
    config: str | Path, dataset: str, sets: list[str], extra: dict[str, Any] | None = None
) -> DatasetConfig:
    """The dataset's settings with ``key=value`` overrides relative to ``datasets.<name>``
    (``extra`` first, then ``sets``, so the command line has the last word)."""
    overrides = {**(extra or {}), **dict(parse_override(s) for s in sets)}
    cfg = load_config(config, {f"datasets.{dataset}.{k}": v for k, v in overrides.items()})
    return dataset_config(cfg, dataset)


def load_run_config(
    config: str | Path, dataset: str, sets: list[str], run: str | None
) -> tuple[DatasetConfig, Run]:
    """The settings of one run (seed and sweep values of :mod:`lsat.runs` applied)."""
    base = load_dataset_config(config, dataset, sets)
    chosen = find_run(base.runs, run, f"dataset {dataset!r}")
    if chosen.id == "" and chosen.seed == base.train.seed:
        return base, chosen
    return load_dataset_config(config, dataset, sets, chosen.overrides), chosen


def _settings(ds: DatasetConfig, split: str) -> dict[str, Any]:
    """What a checkpoint must share with the run that continues it (as plain data: its
    hash, :func:`lsat.engine.checkpoint.settings_hash`, is that of the settings as written)."""
    return {
        "dataset": ds.name,
        "format": ds.format,
        "split": split,
        "model": copy.deepcopy(ds.model),
        "train": weight_settings(ds.train),
        "glove": ds.vocab.glove,
        **({"finetune": ds.finetune} if is_finetune(split) else {}),
    }


def config_record(ds: DatasetConfig) -> dict[str, Any]:
    """The dataset's complete settings as plain data (what the config hash covers)."""
    return {
        "name": ds.name,
        "format": ds.format,
        "raw_dir": str(ds.raw_dir),
        "features": as_plain(ds.features),
        "vocab": as_plain(ds.vocab),
        "model": ds.model,
        "train": as_plain(ds.train),
    }


def run_provenance(
    ds: DatasetConfig, qsets: list[str], device: Any, extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Provenance of a run reading question sets ``qsets`` (see :mod:`lsat.provenance`)."""
    data: list[Path | None] = []
    image_sets: list[str] = []
    for qset in qsets:
        data += [ds.fmt.question_file(ds.raw_dir, qset)]
        data += [ds.fmt.annotation_file(ds.raw_dir, qset)]
        for s in ds.fmt.feature_sets(qset):  # VG questions refer to COCO train/val images
            if s not in image_sets:
                image_sets.append(s)
    return provenance.collect(
        config=config_record(ds),
        data_files=data,
        features=[ds.paths.features(s) for s in image_sets],
        vocab=ds.paths.vocab,
        answers=ds.paths.answers,
        device=device,
        extra=extra,
    )


def qsets_order(ds: DatasetConfig) -> Any:
    """Sort key putting question sets in their official order (train, val, test, vg)."""
    order = list(ds.fmt.question_sets)
    return order.index


def _build_data(ds: DatasetConfig, qsets: list[str], residency: str) -> QADataset:
    return build_dataset(
        ds,
        qsets,
        vocab_path=ds.paths.vocab,
        answers_path=ds.paths.answers,
        residency=residency,
    )


def _pretrained(ds: DatasetConfig) -> tuple[Any, str]:
    glove = ds.vocab.glove
    if not glove:
        return None, "word embeddings: random init (vocab.glove not set)"
    emb, cached = vocab_embedding(glove, ds.paths.vocab)
    how = f"cached in {cache_paths(ds.paths.vocab)[0]}" if cached else "parsed, now cached"
    return torch.from_numpy(emb), f"word embeddings: GloVe {glove} ({how})"


def train_run(
    config: str | Path,
    dataset: str,
    split: str,
    sets: list[str] | None = None,
    *,
    resume: ResumeMode = ResumeMode.AUTO,
    layout: RunLayout | None = None,
    run: str | None = None,
) -> dict[str, Any]:
    """Train ``dataset`` on ``split``, treating an existing checkpoint as ``resume`` says.

    ``run`` names one of the split's seed/sweep runs (:mod:`lsat.runs`); it is needed when
    the dataset has several, unless ``layout`` places the files (run.py). The fine-tune
    (``split`` finetune) is one run of the base settings.
    """
    if (layout is not None and run is None) or is_finetune(split):
        ds, run_id = load_dataset_config(config, dataset, sets or []), ""
    else:
        ds, chosen = load_run_config(config, dataset, sets or [], run)
        run_id = chosen.id
    start = None
    if is_finetune(split):  # the maintainers' recipe (lsat.engine.finetune)
        ds, data_split, source, epoch = finetune_config(ds)
        qsets, start = ds.fmt.split_parts(data_split), (source, epoch)
    else:
        qsets = ds.fmt.split_parts(split)
    layout = layout or RunLayout.for_split(ds.paths, split, run_id)
    check_mode(layout, resume)
    env = distributed.setup()
    try:
        with _writer_lock(layout, env.is_main):
            return _train_in_env(ds, split, qsets, layout, env, resume, start)
    finally:
        distributed.teardown(env)


def _writer_lock(layout: RunLayout, main: bool) -> contextlib.AbstractContextManager[None]:
    """The run folder's lock, on rank 0 only (the other ranks follow rank 0's lead)."""
    if not main:
        return contextlib.nullcontext()
    return run_lock(layout.lock, f"run folder {layout.checkpoint_dir.parent}")


def _train_in_env(
    ds: DatasetConfig,
    split: str,
    qsets: list[str],
    layout: RunLayout,
    env: distributed.DistEnv,
    resume: ResumeMode,
    start: tuple[Path, int] | None = None,
) -> dict[str, Any]:
    check_glove(ds.vocab.glove)  # before minutes of data loading
    tc = resolve_train(ds.train, env.device)
    configure_cpu(tc.cpu_threads, env.device)
    seed_everything(tc.seed, bool(tc.deterministic))
    with parsed_once():  # val's files serve its dataset and its scorer; the lists 3 readers
        train_set = _build_data(ds, qsets, tc.feature_residency)
        emb, emb_note = _pretrained(ds)
        digests = list_digests(ds.paths.vocab, ds.paths.answers)
        validate = _validation(ds, qsets, tc, env)
    model, options = build_model_for_data(
        ds.model["name"], ds.format, ds.model.get("options"), train_set, pretrained_emb=emb
    )
    if env.rank:
        seed_everything(tc.seed + env.rank, bool(tc.deterministic))
    header = [
        f"lsat train: dataset {ds.name} ({ds.format}), split {split} = {'+'.join(qsets)}, "
        f"{len(train_set)} questions, {env.world} process(es) on {env.device}",
        *run_facts(model, tc, env.world, env.device),
        f"model: {json.dumps(ds.model, sort_keys=True)}",
        f"train: {json.dumps(as_plain(tc), sort_keys=True)}",
        emb_note,
        _start_note(ds, start),
        _validation_note(validate is not None, qsets),
    ]
    read = sorted(set(qsets) | ({"val"} if validate else set()), key=qsets_order(ds))
    spec = TrainSpec(
        train=tc,
        layout=layout,
        settings=_settings(ds, split),  # as written: "auto" resumes on either device
        model_meta=_model_meta(ds, train_set, options, digests),
        header=header,
        start_from=start,
        init_checkpoint=ds.model.get("checkpoint"),
        provenance=run_provenance(ds, read, env.device, {"world_size": env.world}),
    )
    hooks = hooks_from_env()  # the tests' deterministic kill (LSAT_SIGNAL_AFTER_STEPS)
    trainer = train(model, train_set, spec, env, validate=validate, resume=resume, hooks=hooks)
    return trainer.summary()


def _model_meta(
    ds: DatasetConfig, train_set: QAData, options: dict[str, Any], digests: dict[str, str]
) -> dict[str, Any]:
    """What a checkpoint records to rebuild its network and check its vocabulary/answers."""
    return {
        "name": ds.model["name"],
        "format": ds.format,
        "token_size": int(train_set.token_size),
        "answer_size": int(train_set.num_answers),
        "options": options,
        "vocab": str(ds.paths.vocab),
        "answers": str(ds.paths.answers),
        **digests,
    }


def _start_note(ds: DatasetConfig, start: tuple[Path, int] | None) -> str:
    """The log line saying where a run that continues no checkpoint starts from: a
    fine-tune from its source epoch, else ``model.checkpoint``'s weights when the config
    names one (loaded by the trainer once the resume policy has decided)."""
    if start is not None:
        return finetune_start_note(*start, ds)
    if ds.model.get("checkpoint"):
        return f"start: weights of {ds.model['checkpoint']}"
    return "start: fresh initialisation"


def _validation(
    ds: DatasetConfig, qsets: list[str], tc: TrainSettings, env: distributed.DistEnv
) -> Callable[[torch.nn.Module], dict[str, Any]] | None:
    """The validation after each epoch (rank 0 validates, the other ranks wait), or None
    when val is part of the training split or ``train.eval_every_epoch`` is off."""
    if "val" in qsets or not tc.eval_every_epoch:
        return None
    return _validator(ds, tc, tc.feature_residency, env) if env.is_main else _no_validation


def _validation_note(validates: bool, qsets: list[str]) -> str:
    if validates:
        return "validation: val after each epoch"
    if "val" in qsets:
        return "validation: none (val is in the training split)"
    return "validation: none (train.eval_every_epoch is false)"


def _no_validation(_model: torch.nn.Module) -> dict[str, Any]:
    return {}


def _validator(
    ds: DatasetConfig, tc: TrainSettings, residency: str, env: distributed.DistEnv
) -> Any:
    """Rank 0's validation after each epoch; its batch source (the val bank) is made once.

    With ``gpu`` residency the val bank is uploaded on the first validation and stays on
    the device for the rest of the run (not re-uploaded every epoch).
    """
    val_res = "ram" if residency == "gpu" and env.device.type != "cuda" else residency
    val_set = _build_data(ds, ["val"], val_res)
    score = val_evaluator(ds)
    sources: list[BatchSource] = []

    def validate(m: torch.nn.Module) -> dict[str, Any]:
        if not sources:
            sources.append(BatchSource(val_set, val_res, env.device, tc.num_workers))
        preds = predict_answers(
            m, val_set, env.device, batch_size=tc.batch_size, source=sources[0], amp=tc.amp
        )
        return score(preds)

    return validate


def predict_run(
    config: str | Path,
    dataset: str,
    split: str,
    on: str,
    out: str | Path | None = None,
    sets: list[str] | None = None,
    model_path: str | Path | None = None,
    metrics_out: str | Path | None = None,
    gumbel: tuple[float, int] | None = None,
    run: str | None = None,
) -> dict[str, Any]:
    """Predict ``on`` (val or test) with the final model of ``split`` (and ``run``).

    ``gumbel`` = (τ, seed): on val, also score the official noisy test of hard routing and
    record it next to the deterministic scores (``gumbel_eval`` in the metrics).

    Val predictions and metrics written into the run folder (the default paths) hold its
    lock, so they never mix with a training writing there."""
    start = now()
    if on not in ("val", "test"):
        raise LsatError(f"--on {on!r}: expected val or test")
    if (model_path and run is None) or is_finetune(split):
        ds, run_id = load_dataset_config(config, dataset, sets or []), ""
    else:
        ds, chosen = load_run_config(config, dataset, sets or [], run)
        run_id = chosen.id
    run_parts(ds, split)
    path = Path(model_path) if model_path else ds.paths.final_model(split, run_id)
    layout = RunLayout.for_split(ds.paths, split, run_id)
    into_run = on == "val" and (out is None or metrics_out is None)
    # parsed_once: the set's files serve its dataset, then the scorer or the result check.
    with _writer_lock(layout, into_run and layout.checkpoint_dir.parent.is_dir()), parsed_once():
        return _predict(ds, split, on, path, out, metrics_out, start, run_id, gumbel)


def _predict(
    ds: DatasetConfig,
    split: str,
    on: str,
    path: Path,
    out: str | Path | None,
    metrics_out: str | Path | None,
    start: str,
    run_id: str,
    gumbel: tuple[float, int] | None = None,
) -> dict[str, Any]:
    device = torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")
    configure_cpu(ds.train.cpu_threads, device)
    residency = ds.train.feature_residency
    if residency == "gpu" and device.type != "cuda":
        residency = "ram"
    if on == "test":  # the result file is a full submission
        check_full_test(ds.fmt, ds.fmt.question_file(ds.raw_dir, "test"))
    data = _build_data(ds, [on], residency)
    model, meta = load_checkpoint_model(path, ds, data, device)
    kwargs = {
        "batch_size": ds.train.batch_size,
        # One source for both passes: a `gpu` bank is uploaded once (its host copy is freed).
        "source": BatchSource(data, residency, device, ds.train.num_workers),
        "amp": resolve_train(ds.train, device).amp,
    }
    answers = predict_answers(model, data, device, **kwargs)
    noisy = None
    if gumbel is not None and on == "val":
        noisy = (*gumbel, _gumbel_answers(model, data, device, gumbel, kwargs))
    out_path = Path(out) if out else None
    metrics_path = Path(metrics_out) if metrics_out else None
    model_info = {
        "model_file": str(path),
        "model_sha256": provenance.sha256_file(path),
        "training": meta.get("training_provenance"),
    }
    prov = run_provenance(ds, [on], device, model_info)
    prov["start"] = start
    trained_on = meta.get("trained_on")
    return write_predictions(
        ds, split, on, answers, out_path, metrics_path, trained_on, noisy, prov, run_id
    )


def _gumbel_answers(
    model: torch.nn.Module,
    data: QAData,
    device: torch.device,
    gumbel: tuple[float, int],
    kw: dict[str, Any],
) -> dict[int, str]:
    """Answers under the official noisy test of hard routing (seeded Gumbel noise at τ)."""
    tau, seed = gumbel
    if set_eval_gumbel(model, tau) == 0:
        raise LsatError(
            "--gumbel-eval: the model has no hard routing (model.options.routing: hard), "
            "so its evaluation has no noise to add"
        )
    try:
        torch.manual_seed(seed)
        return predict_answers(model, data, device, **kw)
    finally:
        set_eval_gumbel(model, None)


def scored_paths(args: Any, checkpoint: Path) -> tuple[Path, Path | None, str]:
    """Outputs of ``lsat predict --checkpoint FILE`` without ``--split``: under
    ``results/<dataset>/scored/<file stem>/``, apart from any trained split's files."""
    ds = load_dataset_config(args.config, args.dataset, args.sets)
    folder = ds.paths.root / "scored" / checkpoint.stem
    if args.on == "val":
        out = Path(args.out) if args.out else folder / "val_predictions.json"
        return out, folder / "val_metrics.json", ds.train.splits[0]
    return (Path(args.out) if args.out else folder / "result_test.json"), None, ds.result_split
