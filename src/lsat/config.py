"""Load, validate and complete the pipeline configuration.

The schema (``lsat/schemas/config.schema.yaml``) is the single description of every key;
Snakemake validates against the same file. Missing keys take the schema defaults, and model
and training keys left at ``null`` take the paper values for the dataset's format
(docs/sources.md), so a config only states what differs from the paper.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from lsat import schema_check
from lsat.errors import LsatError
from lsat.formats import Format, format_of
from lsat.paths import ResultPaths
from lsat.runs import runs
from lsat.settings import (
    FeatureSettings,
    Resources,
    TrainSettings,
    VocabSettings,
    from_mapping,
)

SCHEMA_PATH = Path(str(resources.files("lsat") / "schemas" / "config.schema.yaml"))


def load_schema() -> dict[str, Any]:
    with open(SCHEMA_PATH, encoding="utf-8") as f:
        return yaml.safe_load(f)


def _extend_with_defaults(jsonschema: Any, validator_class: Any) -> Any:
    """A validator that fills ``default`` values while it validates (as Snakemake does)."""
    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(
        validator: Any, properties: dict[str, Any], instance: Any, schema: dict[str, Any]
    ) -> Iterator[Any]:
        if isinstance(instance, dict):
            for name, sub in properties.items():
                if "default" in sub and name not in instance:
                    instance[name] = copy.deepcopy(sub["default"])
        yield from validate_properties(validator, properties, instance, schema)

    return jsonschema.validators.extend(validator_class, {"properties": set_defaults})


@functools.cache
def _jsonschema_validator() -> Any | None:
    """jsonschema's validator class with default filling, or None when it is not installed.

    jsonschema is optional at run time: the GPU machines have no registry and no jsonschema,
    so :mod:`lsat.schema_check` checks the config there (with one warning on stderr).
    """
    try:
        import jsonschema
    except ImportError:
        print(
            "lsat: warning: jsonschema is not installed; the config is checked by lsat's "
            "built-in subset validator (types, enums, ranges, unknown keys, defaults)",
            file=sys.stderr,
        )
        return None
    return _extend_with_defaults(jsonschema, jsonschema.Draft202012Validator)


def _first_error(cfg: dict[str, Any], schema: dict[str, Any]) -> tuple[str, str] | None:
    """(dotted key, message) of the first error, filling defaults; None when valid."""
    validator_class = _jsonschema_validator()
    if validator_class is None:
        try:
            schema_check.check(cfg, schema, schema, [])
        except schema_check.SchemaError as err:
            return ".".join(str(p) for p in err.path) or "<top level>", err.message
        return None
    errors = sorted(validator_class(schema).iter_errors(cfg), key=lambda e: list(e.absolute_path))
    if not errors:
        return None
    first = errors[0]
    return ".".join(str(p) for p in first.absolute_path) or "<top level>", first.message


def validate_config(cfg: dict[str, Any], source: str = "config") -> dict[str, Any]:
    """Validate ``cfg`` in place (filling defaults); raise one :class:`LsatError` on failure."""
    schema = load_schema()
    # Defaults of nested objects appear only after their parent is filled: validate twice.
    for _ in range(3):
        error = _first_error(cfg, schema)
        if error:
            raise LsatError(f"{source}: invalid value at {error[0]}: {error[1]}")
    return cfg


def load_config(path: str | Path, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Read a YAML config, apply dotted-key ``overrides`` and validate it."""
    p = Path(path)
    if not p.is_file():
        raise LsatError(f"config file not found: {p}")
    try:
        with open(p, encoding="utf-8") as f:
            cfg = yaml.safe_load(f) or {}
    except yaml.YAMLError as err:
        raise LsatError(f"config file {p} is not valid YAML: {err}") from None
    except UnicodeDecodeError as err:
        raise LsatError(f"config file {p} is not UTF-8 text (offset {err.start})") from None
    for dotted, value in (overrides or {}).items():
        _check_dataset_exists(cfg, dotted, p)
        set_dotted(cfg, dotted, value)
    return validate_config(cfg, source=str(p))


def _check_dataset_exists(cfg: Any, dotted: str, path: Path) -> None:
    """An override under ``datasets.<name>`` needs ``<name>`` in the config (else the
    schema would only say that the new entry lacks 'format')."""
    keys = dotted.split(".")
    datasets = cfg.get("datasets") if isinstance(cfg, dict) else None
    known = isinstance(datasets, dict) and keys[1] in datasets if len(keys) > 2 else True
    if keys[0] == "datasets" and isinstance(datasets, dict) and not known:
        raise LsatError(
            f"unknown dataset {keys[1]!r} (override {dotted}): {path} defines "
            f"{', '.join(sorted(datasets)) or 'none'}"
        )


def set_dotted(cfg: dict[str, Any], dotted: str, value: Any) -> None:
    """``set_dotted(cfg, 'datasets.demo.train.max_epoch', 3)``, creating missing levels."""
    node = cfg
    keys = dotted.split(".")
    for key in keys[:-1]:
        node = node.setdefault(key, {})
        if not isinstance(node, dict):
            raise LsatError(f"cannot set {dotted}: {key} is not a mapping")
    node[keys[-1]] = value


def parse_override(text: str) -> tuple[str, Any]:
    """``'train.max_epoch=3'`` → ``('train.max_epoch', 3)`` (the value is read as YAML)."""
    if "=" not in text:
        raise LsatError(f"override {text!r} must look like key=value")
    key, raw = text.split("=", 1)
    if not raw.strip():
        raise LsatError(
            f"override {text!r} has an empty value: give one (key=null resets the key to "
            "its default)"
        )
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError as err:
        why = str(err).splitlines()[0]
        raise LsatError(f"override {text!r}: the value is not valid YAML ({why})") from None
    if isinstance(value, str):  # YAML 1.1 reads 1e-4 (no dot) as a string: take it as a number
        with contextlib.suppress(ValueError):
            value = float(value)
    return key.strip(), value


@dataclass(frozen=True)
class DatasetConfig:
    """One dataset's settings with paper defaults filled in for its format.

    ``features``, ``vocab``, ``train`` and ``resources`` are typed and frozen
    (:mod:`lsat.settings`): a changed setting is a new object (``dataclasses.replace``).
    """

    name: str
    format: str
    raw_dir: Path
    demo: bool
    eval_version: str
    finetune: dict[str, Any] | None
    features: FeatureSettings
    vocab: VocabSettings
    model: dict[str, Any]
    train: TrainSettings
    resources: Resources
    paths: ResultPaths
    sweep: dict[str, list[Any]] = field(default_factory=dict)

    @property
    def fmt(self) -> Format:
        """The format object (:mod:`lsat.formats`): question and image sets, files, answers."""
        return format_of(self.format)

    @property
    def result_split(self) -> str:
        return self.train.result_split or self.train.splits[-1]

    @property
    def runs(self) -> list[Any]:
        """The runs of each split (:mod:`lsat.runs`): one per sweep combination and seed."""
        return runs(self.train, self.sweep)


def dataset_config(cfg: dict[str, Any], name: str) -> DatasetConfig:
    """Select dataset ``name`` from a validated config and complete its defaults."""
    ds, where = dataset_mapping(cfg, name), f"datasets.{name}"
    return DatasetConfig(
        name=name,
        format=ds["format"],
        raw_dir=Path(ds["raw_dir"]),
        demo=ds["demo"],
        eval_version=str(ds["eval_version"]),
        finetune=ds["finetune"],
        features=from_mapping(FeatureSettings, ds["features"], f"{where}.features"),
        vocab=from_mapping(VocabSettings, ds["vocab"], f"{where}.vocab"),
        model=ds["model"],
        train=from_mapping(TrainSettings, ds["train"], f"{where}.train"),
        resources=from_mapping(Resources, ds["resources"], f"{where}.resources"),
        paths=ResultPaths(cfg["results_dir"], name),
        sweep=ds["sweep"],
    )


def dataset_mapping(cfg: dict[str, Any], name: str) -> dict[str, Any]:
    """Dataset ``name`` of a validated config as a checked mapping, paper defaults filled.

    Its keys keep the order of the config, so what Snakemake records of it (the rules'
    params, compared by their repr) stays the same; everything else reads
    :func:`dataset_config`'s typed object.
    """
    datasets = cfg["datasets"]
    if name not in datasets:
        raise LsatError(
            f"unknown dataset {name!r}: the config defines {', '.join(sorted(datasets))}"
        )
    ds = copy.deepcopy(datasets[name])
    fmt = ds["format"]
    train = ds["train"]
    for key, value in format_of(fmt).paper_train.items():
        if train.get(key) is None:
            train[key] = copy.deepcopy(value)
    typed = from_mapping(TrainSettings, train, f"datasets.{name}.train")
    check_train(typed, f"datasets.{name}.train")
    check_finetune(ds["finetune"], typed, f"datasets.{name}")
    if ds["finetune"] and ((typed.seeds or [0])[1:] or ds["sweep"]):
        raise LsatError(
            f"datasets.{name}: finetune continues one run of from_split, but train.seeds or "
            "sweep define several; fine-tune a single-run dataset entry instead"
        )
    return ds


def check_finetune(ft: dict[str, Any] | None, train: TrainSettings, where: str) -> None:
    """A fine-tune continues a split the dataset trains; result_split finetune needs one."""
    if ft is None:
        if train.result_split == "finetune":
            raise LsatError(f"{where}.train.result_split is finetune but {where}.finetune is null")
        return
    if ft["from_split"] not in train.splits:
        raise LsatError(
            f"{where}.finetune.from_split {ft['from_split']!r} is not one of "
            f"{where}.train.splits {list(train.splits)}: the source run must be trained"
        )
    if ft["from_epoch"] > train.max_epoch:
        raise LsatError(
            f"{where}.finetune.from_epoch {ft['from_epoch']} is beyond "
            f"{where}.train.max_epoch {train.max_epoch}: that checkpoint is never written"
        )


def check_train(train: TrainSettings, where: str) -> None:
    """Training values the schema cannot relate: errors for impossible ones, a warning for
    a decay point the run never reaches (harmless: it matters only if the run is extended)."""
    batch, accu, lr = train.batch_size, train.grad_accu_steps, train.lr_base
    if batch % accu:
        raise LsatError(
            f"{where}.grad_accu_steps {accu} does not divide {where}.batch_size {batch}: "
            "each optimizer step splits the batch into equal sub-batches"
        )
    if not lr > 0:
        raise LsatError(f"{where}.lr_base {lr}: expected a positive learning rate")
    late = [d for d in train.lr_decay_list if d >= train.max_epoch]
    note = f"{where}.lr_decay_list {late} at or beyond max_epoch {train.max_epoch}"
    if late and note not in _WARNED:
        _WARNED.add(note)
        print(f"lsat: warning: {note}: the run never reaches that decay", file=sys.stderr)


_WARNED: set[str] = set()  # one warning per process, however often the config is read
