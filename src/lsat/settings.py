"""Typed, frozen views of a dataset's ``features``, ``vocab``, ``train`` and ``resources``.

The schema (``lsat/schemas/config.schema.yaml``) stays the one source of keys, types and
defaults: these classes declare no default values; they are built by :func:`from_mapping`
from the validated, default-filled mapping, which must hold every field and no other key
(so a key added to the schema and not here, or the reverse, fails at once). Lists become
tuples (the objects are immutable all the way down); :func:`as_plain` gives back the
mapping as validated, lists included, for what hashes or records the settings (the run
settings hash, the provenance's config hash, Snakemake params), so those stay the same.

A train key that changes speed or bookkeeping but not the trained weights is marked
``field(metadata=NEUTRAL)``; :func:`weight_settings` leaves those out of what a
checkpoint must share with the run that continues it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from lsat.errors import LsatError

# Metadata key of a train field: False when the field does not change the trained weights.
WEIGHTS = "weights"


# The metadata of such a field (it changes speed or bookkeeping, not the weights).
NEUTRAL = {WEIGHTS: False}


@dataclass(frozen=True)
class FeatureSettings:
    """``datasets.D.features``: how ``lsat extract`` writes the grid features."""

    backend: str
    source_dir: str | None
    export_model: str | None
    preprocess: str
    grid: int
    cell_pixels: int
    coords: bool
    batch_size: int


@dataclass(frozen=True)
class VocabSettings:
    """``datasets.D.vocab``: the question vocabulary, answer list and word vectors."""

    glove: str | None
    answer_dict: str | None
    min_answer_count: int
    max_token: int | None


@dataclass(frozen=True)
class TrainSettings:
    """``datasets.D.train`` with the paper values of the format filled in.

    ``amp``, ``deterministic`` and ``tf32`` are as written (``auto``/null) until
    :func:`lsat.engine.device.resolve_train` sets them for a device.
    """

    splits: tuple[str, ...] = field(metadata=NEUTRAL)
    result_split: str | None = field(metadata=NEUTRAL)
    batch_size: int
    grad_accu_steps: int
    max_epoch: int
    lr_base: float
    lr_decay_rate: float
    lr_decay_list: tuple[int, ...]
    warmup_epochs: int
    opt_betas: tuple[float, float]
    opt_eps: float
    loss: str
    seed: int
    seeds: tuple[int, ...] | None = field(metadata=NEUTRAL)
    num_workers: int = field(metadata=NEUTRAL)
    amp: str
    compile: Literal[False] | str = field(metadata=NEUTRAL)
    feature_residency: str = field(metadata=NEUTRAL)
    residency_fallback: str = field(metadata=NEUTRAL)
    deterministic: bool | None
    tf32: bool | None
    cpu_threads: int | None = field(metadata=NEUTRAL)
    eval_every_epoch: bool


@dataclass(frozen=True)
class Resources:
    """``datasets.D.resources``: what one job of the dataset asks the scheduler for."""

    gpu: int
    cpus: int
    mem_mb: int
    runtime: int


S = TypeVar("S", FeatureSettings, VocabSettings, TrainSettings, Resources)


def from_mapping(cls: type[S], values: Mapping[str, Any], where: str) -> S:
    """``cls`` built from the validated mapping ``values`` (lists become tuples)."""
    names = [f.name for f in dataclasses.fields(cls)]
    missing = [n for n in names if n not in values]
    unknown = [k for k in values if k not in names]
    if missing or unknown:
        raise LsatError(
            f"{where}: expected exactly the keys of the schema; missing {missing}, "
            f"unknown {unknown} (was the mapping validated?)"
        )
    return cls(**{n: _frozen(values[n]) for n in names})


def _frozen(value: Any) -> Any:
    return tuple(_frozen(v) for v in value) if isinstance(value, list | tuple) else value


def _plain(value: Any) -> Any:
    return [_plain(v) for v in value] if isinstance(value, tuple) else value


def as_plain(settings: Any) -> dict[str, Any]:
    """The settings as the validated mapping they came from (tuples back to lists)."""
    return {f.name: _plain(getattr(settings, f.name)) for f in dataclasses.fields(settings)}


def weight_settings(train: TrainSettings) -> dict[str, Any]:
    """The train settings that decide the trained weights (fields not marked neutral)."""
    plain = as_plain(train)
    return {
        f.name: plain[f.name] for f in dataclasses.fields(train) if f.metadata.get(WEIGHTS, True)
    }
