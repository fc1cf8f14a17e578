"""Model configuration: one frozen dataclass, paper defaults per family and dataset format.

The field names are the lower-case keys of ``model.options`` in the config schema, so a
config override maps onto a field one to one. Defaults are docs/sources.md (TRAR's official
``configs/{vqa,clevr}/trar.yml``); a key of another family (``window_size`` for TRAR, say)
is accepted so one config can switch ``model.name`` without editing its options, and simply
has no effect.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from lsat.errors import LsatError
from lsat.formats import FORMATS as _FORMATS
from lsat.formats import format_of

FAMILIES = ("trar", "mcan", "lsat")
FORMATS = tuple(_FORMATS)  # the dataset formats (lsat.formats)


@dataclass(frozen=True)
class ModelConfig:
    """Every hyper-parameter of the MCAN-small family (upper-case names in the official code)."""

    name: str = "trar"
    format: str = "vqa"  # the dataset format (vqa, clevr): its paper defaults, adapter name
    layer: int = 6
    hidden_size: int = 512
    ff_size: int = 2048
    multi_head: int = 8
    dropout_r: float = 0.1
    word_embed_size: int = 300
    flat_mlp_size: int = 512
    flat_glimpses: int = 1
    flat_out_size: int = 1024
    img_feat_size: int = 2048
    # TRAR routing (docs/sources.md).
    orders: tuple[int, ...] = field(default=(0, 1, 2, 3))
    img_scale: int = 8
    routing: str = "soft"
    pooling: str = "avg"
    binarize: bool = False
    tau_policy: int = 1
    tau_max: float = 10.0
    tau_min: float = 0.1
    # LSAT windows (docs/sources.md; our choice of default: 4×4 windows on 8×8 grids).
    window_size: int = 4

    @property
    def uses_grid(self) -> bool:
        """TRAR and LSAT need the cells on an S×S grid (N = S²); MCAN does not."""
        return self.name in ("trar", "lsat")


OPTION_KEYS = tuple(
    f.name for f in dataclasses.fields(ModelConfig) if f.name not in ("name", "format")
)

# docs/sources.md: what differs from the dataclass defaults (which are VQA-v2 TRAR).
_FORMAT_DEFAULTS: dict[str, dict[str, Any]] = {
    "vqa": {},
    "clevr": {
        "img_feat_size": 1024,
        "orders": (0, 1, 3),
        "img_scale": 14,
        "routing": "hard",
        "pooling": "fc",
        "tau_policy": 0,
        "binarize": True,
        "window_size": 7,
    },
}

_CHOICES: dict[str, tuple[Any, ...]] = {
    "routing": ("soft", "hard"),
    "pooling": ("avg", "fc", "attention"),
    "tau_policy": (0, 1, 2),
}


def make_config(name: str, fmt: str, **overrides: Any) -> ModelConfig:
    """Paper configuration of ``name`` on dataset format ``fmt`` with ``overrides`` applied."""
    if name not in FAMILIES:
        raise LsatError(f"unknown model {name!r}: expected one of {', '.join(FAMILIES)}")
    format_of(fmt)  # one error naming the known formats
    unknown = sorted(set(overrides) - set(OPTION_KEYS))
    if unknown:
        raise LsatError(
            f"unknown model option(s) {', '.join(unknown)}: valid keys are {', '.join(OPTION_KEYS)}"
        )
    values: dict[str, Any] = dict(_FORMAT_DEFAULTS[fmt])
    values.update(overrides)
    if "orders" in values:
        values["orders"] = tuple(int(o) for o in values["orders"])
    cfg = ModelConfig(name=name, format=fmt, **values)
    _check(cfg)
    return cfg


def _check(cfg: ModelConfig) -> None:
    """Refuse combinations that would fail deep inside a forward pass."""
    for key, choices in _CHOICES.items():
        if getattr(cfg, key) not in choices:
            raise LsatError(
                f"model option {key}={getattr(cfg, key)!r}: expected one of "
                f"{', '.join(map(str, choices))}"
            )
    if cfg.hidden_size % cfg.multi_head:
        raise LsatError(
            f"model option hidden_size={cfg.hidden_size} must be divisible by "
            f"multi_head={cfg.multi_head}"
        )
    if cfg.hidden_size % 2 and cfg.name == "trar":
        raise LsatError(f"model option hidden_size={cfg.hidden_size} must be even for TRAR")
    if not cfg.orders:
        raise LsatError("model option orders must list at least one order")
    if cfg.name == "trar" and max(cfg.orders) >= cfg.img_scale:
        raise LsatError(
            f"model option orders={list(cfg.orders)}: every order must be smaller than "
            f"img_scale={cfg.img_scale}"
        )
    if cfg.name == "lsat" and not 1 <= cfg.window_size <= cfg.img_scale:
        raise LsatError(
            f"model option window_size={cfg.window_size} must be between 1 and "
            f"img_scale={cfg.img_scale}"
        )
