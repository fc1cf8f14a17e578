"""TRAR routing: SDPA vs explicit maps, deterministic evaluation, τ schedule."""

from __future__ import annotations

import pytest
import torch
from model_helpers import ANSWERS, TINY, TOKENS, tiny_batch

from lsat.models import build_model, set_attention_backend
from lsat.models.trar import tau_schedule

VARIANTS = [
    ("trar", {"routing": "soft", "pooling": "avg"}),
    ("trar", {"routing": "hard", "pooling": "fc", "binarize": False}),
    ("trar", {"routing": "hard", "pooling": "attention", "binarize": True}),
    ("mcan", {}),
    ("lsat", {}),
]


@pytest.mark.parametrize(("name", "options"), VARIANTS)
def test_sdpa_path_matches_explicit_maps(name: str, options: dict) -> None:
    model = build_model(
        name,
        format="vqa",
        token_size=TOKENS,
        answer_size=ANSWERS,
        **{**TINY, **options, "dropout_r": 0.0},
    )
    img, ques = tiny_batch(batch=4)
    img[3] = 0  # an image made only of padding: every image query fully masked
    model.eval()
    with torch.no_grad():
        fast = set_attention_backend(model, "sdpa")(img, ques)
        slow = set_attention_backend(model, "explicit")(img, ques)
    assert torch.isfinite(fast).all()
    assert (fast - slow).abs().max() < 1e-5
    # In training (soft routing, no dropout) the paths agree too, and gradients flow.
    if options.get("routing", "soft") == "soft":
        model.train()
        set_attention_backend(model, "sdpa")
        assert (model(img, ques) - slow).abs().max() < 1e-5


def test_hard_routing_is_random_in_training_and_deterministic_in_eval() -> None:
    model = build_model(
        "trar",
        format="clevr",
        token_size=TOKENS,
        answer_size=ANSWERS,
        **{**TINY, "dropout_r": 0.0},
    )
    img, ques = tiny_batch()
    model.train()
    assert not torch.equal(model(img, ques), model(img, ques))  # Gumbel noise
    model.eval()
    with torch.no_grad():
        assert torch.equal(model(img, ques), model(img, ques))


def test_router_weights_in_eval() -> None:
    model = build_model("trar", format="vqa", token_size=TOKENS, answer_size=ANSWERS, **TINY)
    router = model.backbone.dec_list[0].mhatt1.routing_block
    x = torch.randn(4, 16, TINY["hidden_size"])
    tau = torch.tensor(1.0)
    router.eval()
    soft = router(x, tau)
    assert torch.allclose(soft.sum(-1), torch.ones(4)) and (soft < 1).all()
    router.binarize = True
    hard = router(x, tau)
    assert torch.equal(hard, torch.nn.functional.one_hot(soft.argmax(-1), 3).float())
    router.train()
    router.routing = "hard"
    cold = router(x, torch.tensor(0.01))  # low τ: near one-hot samples, still a distribution
    assert torch.allclose(cold.sum(-1), torch.ones(4)) and (cold.max(-1).values > 0.9).all()


def test_tau_schedule_values() -> None:
    slow = [tau_schedule(0, e, 16, 3, 10.0, 0.1) for e in range(16)]
    assert slow[0] == 10.0 and slow[-1] == pytest.approx(0.1) and slow[5] == pytest.approx(6.7)
    fast = [tau_schedule(1, e, 13, 3, 10.0, 0.1) for e in range(13)]
    assert fast[:4] == pytest.approx([10.0, 7.0, 4.0, 1.0])
    assert fast[-1] == pytest.approx(0.1) and fast[8] == pytest.approx(0.5)
    finetune = [tau_schedule(2, e, 13, 3, 10.0, 0.1) for e in range(13)]
    assert finetune[:3] == pytest.approx([10.0, 7.0, 4.0]) and set(finetune[3:]) == {0.1}


def test_update_tau_only_for_hard_routing() -> None:
    hard = build_model("trar", format="clevr", token_size=TOKENS, answer_size=ANSWERS, **TINY)
    assert hard.backbone.tau.item() == 10.0
    assert hard.update_tau(5, 16, 3) == pytest.approx(6.7)
    assert hard.backbone.tau.item() == pytest.approx(6.7)
    assert "backbone.tau" not in hard.state_dict()
    soft = build_model("trar", format="vqa", token_size=TOKENS, answer_size=ANSWERS, **TINY)
    assert soft.update_tau(5, 13, 3) is None
    assert (
        build_model(
            "lsat", format="clevr", token_size=TOKENS, answer_size=ANSWERS, **TINY
        ).update_tau(0, 16, 3)
        is None
    )
