"""Typed settings: built from the validated config, frozen, and hashed exactly as before.

The run settings hash decides whether a checkpoint may be continued (a different hash sets
the old checkpoints aside) and the config hash goes into every provenance file, so both
are pinned here to the values the dict-based settings of earlier versions gave for the same
config: an existing run folder must not look changed after the move to dataclasses.
"""

from __future__ import annotations

import dataclasses

import pytest
import yaml

from lsat.config import dataset_config, dataset_mapping, load_schema, validate_config
from lsat.engine.checkpoint import settings_hash
from lsat.engine.fit import _settings, config_record
from lsat.errors import LsatError
from lsat.provenance import config_hash
from lsat.settings import (
    WEIGHTS,
    FeatureSettings,
    Resources,
    TrainSettings,
    VocabSettings,
    as_plain,
    from_mapping,
    weight_settings,
)

CONFIG = """
datasets:
  v:
    format: vqa
    raw_dir: data/v
    finetune: {from_split: train+val+vg, from_epoch: 10, split: train+val, epochs: 3}
    features: {backend: npy, source_dir: feats, grid: 8}
    vocab: {glove: glove.txt}
    model: {name: trar, options: {layer: 2}}
    train: {splits: [train, train+val+vg], result_split: finetune, cpu_threads: 1, amp: bf16}
  c:
    format: clevr
    raw_dir: data/c
    features: {grid: 4, coords: true}
    train:
      {seeds: [1, 2], lr_base: 1.0e-3, max_epoch: 5, lr_decay_list: [3], feature_residency: ram}
"""

# Measured with the dict-based DatasetConfig (main at cc9ed83) for CONFIG above.
V_CONFIG = "2596f87e20260b666e9422fe198489971b7cb56b658443f4bad108fbe51cbebb"
C_CONFIG = "c0b6dbca592b86728be4977a38843313e801a7d4ef8bb66b85402dead6d93377"
PINNED = [
    ("v", "train+val+vg", "72a7ce649966e28f", V_CONFIG),
    ("v", "finetune", "df9bbae71fac55dc", V_CONFIG),
    ("c", "train", "5fec36f7bb6ceb8f", C_CONFIG),
]


@pytest.fixture(scope="module")
def cfg():
    return validate_config(yaml.safe_load(CONFIG))


@pytest.mark.parametrize(("name", "split", "run_hash", "cfg_hash"), PINNED)
def test_hashes_are_those_of_the_dict_settings(cfg, name, split, run_hash, cfg_hash):
    ds = dataset_config(cfg, name)
    assert settings_hash(_settings(ds, split)) == run_hash
    assert config_hash(config_record(ds)) == cfg_hash


def test_settings_are_typed_frozen_and_give_back_the_validated_mapping(cfg):
    ds = dataset_config(cfg, "c")
    plain = dataset_mapping(cfg, "c")
    assert ds.train.lr_decay_list == (3,) and ds.train.batch_size == 64  # paper value filled
    assert ds.features.grid == 4 and ds.features.cell_pixels == 8  # the schema's default
    for settings, key in ((ds.train, "train"), (ds.features, "features"), (ds.vocab, "vocab")):
        assert as_plain(settings) == plain[key]
    assert as_plain(ds.resources) == plain["resources"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        ds.train.max_epoch = 9  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        ds.train = ds.train  # type: ignore[misc]
    longer = dataclasses.replace(ds.train, max_epoch=9)
    assert (longer.max_epoch, ds.train.max_epoch) == (9, 5)


@pytest.mark.parametrize(
    ("cls", "section"),
    [(FeatureSettings, "features"), (VocabSettings, "vocab"), (TrainSettings, "train"),
     (Resources, "resources")],
)  # fmt: skip
def test_fields_are_the_schema_keys_without_defaults(cls, section):
    keys = list(load_schema()["$defs"][section]["properties"])
    fields = dataclasses.fields(cls)
    assert sorted(f.name for f in fields) == sorted(keys)
    assert all(f.default is dataclasses.MISSING for f in fields)  # the schema has them
    assert all(f.default_factory is dataclasses.MISSING for f in fields)


def test_a_mapping_with_a_missing_or_unknown_key_is_refused(cfg):
    plain = dataset_mapping(cfg, "v")["resources"]
    with pytest.raises(LsatError, match=r"missing \['runtime'\]"):
        from_mapping(Resources, {k: v for k, v in plain.items() if k != "runtime"}, "r")
    with pytest.raises(LsatError, match=r"unknown \['gpus'\]"):
        from_mapping(Resources, {**plain, "gpus": 1}, "r")


def test_only_neutral_train_keys_leave_the_weight_settings(cfg):
    ds = dataset_config(cfg, "c")
    neutral = {
        f.name for f in dataclasses.fields(TrainSettings) if not f.metadata.get(WEIGHTS, True)
    }
    assert neutral == {
        "splits", "result_split", "num_workers", "feature_residency", "residency_fallback",
        "compile", "cpu_threads", "seeds",
    }  # fmt: skip
    assert set(weight_settings(ds.train)) == set(as_plain(ds.train)) - neutral
    faster = dataclasses.replace(ds.train, num_workers=4, feature_residency="disk")
    assert weight_settings(faster) == weight_settings(ds.train)
    other = dataclasses.replace(ds.train, lr_base=2e-3)
    assert weight_settings(other) != weight_settings(ds.train)
