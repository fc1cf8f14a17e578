"""build_model: paper configurations, official names and counts, overrides, input checks."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from model_helpers import ANSWERS, TINY, TOKENS, tiny_batch

from lsat.config import load_schema
from lsat.errors import LsatError
from lsat.models import FAMILIES, FAMILY_PARTS, OPTION_KEYS, build_model
from lsat.models.config import FORMATS
from lsat.models.layers import Projections
from lsat.models.net import ADAPTER_NAMES


def official_keys(layers: int, adapter: str, router: list[str] | None) -> set[str]:
    """Official state-dict keys (docs/sources.md), generated from their layout, not our code."""
    lin = [f"linear_{n}.{p}" for n in ("v", "k", "q", "merge") for p in ("weight", "bias")]
    ffn = [f"ffn.mlp.{m}.{p}" for m in ("fc.linear", "linear") for p in ("weight", "bias")]
    flat = [
        f"{m}.{p}"
        for m in ("mlp.fc.linear", "mlp.linear", "linear_merge")
        for p in ("weight", "bias")
    ]
    keys = {"embedding.weight", "proj.weight", "proj.bias", "proj_norm.a_2", "proj_norm.b_2"}
    keys |= {f"lstm.{w}_l0" for w in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")}
    keys |= {f"adapter.{adapter}.weight", f"adapter.{adapter}.bias"}
    keys |= {f"attflat_{s}.{k}" for s in ("img", "lang") for k in flat}
    for i in range(layers):
        e, d = f"backbone.enc_list.{i}", f"backbone.dec_list.{i}"
        keys |= {f"{e}.mhatt.{k}" for k in lin} | {f"{e}.{k}" for k in ffn}
        keys |= {f"{e}.norm{j}.{p}" for j in (1, 2) for p in ("a_2", "b_2")}
        keys |= {f"{d}.mhatt{j}.{k}" for j in (1, 2) for k in lin} | {f"{d}.{k}" for k in ffn}
        keys |= {f"{d}.norm{j}.{p}" for j in (1, 2, 3) for p in ("a_2", "b_2")}
        keys |= {f"{d}.mhatt1.routing_block.{k}" for k in router or []}
    return keys


ROUTER = ["mlp.0.weight", "mlp.2.weight", "mlp.2.bias"]
ATT_POOL = [
    f"pool.{m}.{p}"
    for m in ("mlp.fc.linear", "mlp.linear", "linear_merge")
    for p in ("weight", "bias")
] + ["pool.norm.a_2", "pool.norm.b_2"]


@pytest.mark.parametrize(
    ("dataset", "options", "answers", "adapter", "router", "tensors", "params"),
    [
        ("vqa", {}, 3129, "frcn_linear", ROUTER, 293, 52_433_491),
        (
            "vqa",
            {"routing": "hard", "pooling": "attention"},
            3129,
            "frcn_linear",
            ROUTER + ATT_POOL,
            341,
            55_594_585,
        ),
        ("clevr", {}, 28, "grid_linear", [*ROUTER, "pool.weight", "pool.bias"], 305, 48_732_214),
    ],
)
def test_trar_paper_config_names_and_counts(
    dataset, options, answers, adapter, router, tensors, params
) -> None:
    model = build_model("trar", format=dataset, token_size=100, answer_size=answers, **options)
    state = model.state_dict()
    assert set(state) == official_keys(6, adapter, router)
    assert len(state) == tensors  # embedding.weight included
    assert sum(v.numel() for k, v in state.items() if k != "embedding.weight") == params
    block = "backbone.dec_list.0.mhatt1.routing_block"
    num_orders = 3 if dataset == "clevr" else 4
    assert state[f"{block}.mlp.0.weight"].shape == (256, 512)
    assert state[f"{block}.mlp.2.weight"].shape == (num_orders, 256)
    assert state["proj.weight"].shape == (answers, 1024)
    assert state["embedding.weight"].shape == (100, 300)


def test_mcan_and_lsat_names() -> None:
    mcan = build_model("mcan", format="vqa", token_size=10, answer_size=5, layer=2)
    assert set(mcan.state_dict()) == official_keys(2, "frcn_linear", None)
    lsat = build_model("lsat", format="vqa", token_size=10, answer_size=5, layer=2)
    extra = set(lsat.state_dict()) - official_keys(2, "frcn_linear", None)
    assert extra == {
        f"backbone.dec_list.{i}.mhatt1.gate.{p}" for i in range(2) for p in ("weight", "bias")
    }


def test_every_family_and_format_has_its_parts() -> None:
    assert tuple(FAMILY_PARTS) == FAMILIES
    assert tuple(ADAPTER_NAMES) == FORMATS
    for name in FAMILIES:
        model = build_model(name, format="clevr", token_size=10, answer_size=5, layer=1)
        assert model.cfg.format == "clevr"
        assert isinstance(model.backbone.dec_list[0].mhatt1, Projections)


def test_unknown_override_lists_valid_keys() -> None:
    with pytest.raises(
        LsatError, match=r"unknown model option.*hiden_size.*valid keys.*hidden_size"
    ):
        build_model("trar", format="vqa", token_size=10, answer_size=5, hiden_size=64)
    assert "window_size" in OPTION_KEYS and "tau_policy" in OPTION_KEYS and len(OPTION_KEYS) == 19
    with pytest.raises(LsatError, match="routing='sometimes'"):
        build_model("trar", format="vqa", token_size=10, answer_size=5, routing="sometimes")
    with pytest.raises(LsatError, match="unknown model 'vit'"):
        build_model("vit", format="vqa", token_size=10, answer_size=5)


def test_grid_size_is_checked_with_a_clear_error() -> None:
    model = build_model("trar", format="vqa", token_size=TOKENS, answer_size=ANSWERS, **TINY)
    img, ques = tiny_batch(scale=5)
    with pytest.raises(LsatError, match="25 image cells but img_scale=4 needs 16"):
        model(img, ques)
    mcan = build_model("mcan", format="vqa", token_size=TOKENS, answer_size=ANSWERS, **TINY)
    assert mcan(img, ques).shape == (3, ANSWERS)  # MCAN takes any number of cells


def test_pretrained_embedding_is_copied_and_trainable() -> None:
    emb = (
        np.random.default_rng(0)
        .standard_normal((TOKENS, TINY["word_embed_size"]))
        .astype("float32")
    )
    model = build_model(
        "lsat", format="clevr", token_size=TOKENS, answer_size=ANSWERS, pretrained_emb=emb, **TINY
    )
    assert torch.equal(model.embedding.weight.detach(), torch.from_numpy(emb))
    assert model.embedding.weight.requires_grad
    assert hasattr(model.adapter, "grid_linear")
    with pytest.raises(LsatError, match=r"shape \(30, 8\), expected \(30, 16\)"):
        build_model(
            "lsat",
            format="clevr",
            token_size=TOKENS,
            answer_size=ANSWERS,
            pretrained_emb=emb[:, :8],
            **TINY,
        )


def test_option_keys_are_the_config_schema_keys() -> None:
    options = load_schema()["$defs"]["model"]["properties"]["options"]["properties"]
    assert set(OPTION_KEYS) == set(options)
