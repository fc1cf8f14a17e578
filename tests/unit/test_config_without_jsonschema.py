"""Without jsonschema (the GPU machines), the built-in checker fills and refuses the same."""

from __future__ import annotations

import copy
import re
import sys
from pathlib import Path

import pytest
import yaml

from lsat import config as config_mod
from lsat import schema_check
from lsat.errors import LsatError

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def no_jsonschema(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Make ``import jsonschema`` fail, as on a machine that lacks it."""
    config_mod._jsonschema_validator.cache_clear()
    monkeypatch.setitem(sys.modules, "jsonschema", None)
    yield
    config_mod._jsonschema_validator.cache_clear()


def _repo_config() -> dict:
    return yaml.safe_load((REPO / "config" / "config.yaml").read_text())


def test_builtin_checker_fills_the_same_defaults_as_jsonschema(monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    raw = _repo_config()
    config_mod._jsonschema_validator.cache_clear()
    full = config_mod.validate_config(copy.deepcopy(raw))  # jsonschema's result
    with monkeypatch.context() as m:
        m.setitem(sys.modules, "jsonschema", None)
        config_mod._jsonschema_validator.cache_clear()
        builtin = config_mod.validate_config(copy.deepcopy(raw))
        config_mod._jsonschema_validator.cache_clear()
    assert "jsonschema is not installed" in capsys.readouterr().err
    assert builtin == full
    assert builtin["datasets"]["vqa"]["train"]["opt_betas"] == [0.9, 0.98]


@pytest.mark.parametrize(
    ("train", "where", "what"),
    [
        ({"amp": "fp64"}, "datasets.d.train.amp", "is not one of"),
        ({"batch_size": "64"}, "datasets.d.train.batch_size", "is not of type"),
        ({"batch_size": True}, "datasets.d.train.batch_size", "is not of type"),
        ({"num_workers": -1}, "datasets.d.train.num_workers", "minimum"),
        ({"opt_betas": [0.9]}, "datasets.d.train.opt_betas", "at least 2"),
        ({"bogus": 1}, "datasets.d.train", "'bogus' was unexpected"),
        ({"compile": 0}, "datasets.d.train.compile", "is not one of"),
    ],
)
def test_builtin_checker_names_the_key_at_fault(no_jsonschema, train, where, what) -> None:  # type: ignore[no-untyped-def]
    cfg = {"datasets": {"d": {"format": "vqa", "raw_dir": "x", "train": train}}}
    key = re.escape(where)
    with pytest.raises(LsatError, match=rf"invalid value at {key}: .*{what}"):
        config_mod.validate_config(cfg)


def test_builtin_checker_requires_keys_and_refuses_unknown_keywords(no_jsonschema) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(LsatError, match=r"datasets\.d: 'raw_dir' is a required property"):
        config_mod.validate_config({"datasets": {"d": {"format": "vqa"}}})
    with pytest.raises(ValueError, match="pattern"):
        schema_check.check("x", {"type": "string", "pattern": "^a"}, {}, [])
