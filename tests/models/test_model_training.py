"""Each model learns, runs at paper size, under bf16 autocast and under torch.compile."""

from __future__ import annotations

import pytest
import torch
from model_helpers import ANSWERS, TINY, TOKENS, tiny_batch

from lsat.models import build_model, compile_model

FAMILIES = [("trar", "vqa"), ("trar", "clevr"), ("mcan", "vqa"), ("lsat", "vqa")]


@pytest.mark.parametrize(("name", "dataset"), FAMILIES)
def test_overfits_a_tiny_batch(name: str, dataset: str) -> None:
    model = build_model(name, format=dataset, token_size=TOKENS, answer_size=ANSWERS, **TINY)
    img, ques = tiny_batch(batch=8, seed=1)
    target = torch.arange(8) % ANSWERS
    optim = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.update_tau(15, 16, 3)  # hard routing: a cold Gumbel temperature
    model.train()
    for _ in range(60):
        loss = torch.nn.functional.cross_entropy(model(img, ques), target)
        optim.zero_grad()
        loss.backward()
        optim.step()
    model.eval()
    with torch.no_grad():
        assert (model(img, ques).argmax(-1) == target).all(), f"final loss {loss.item():.3f}"


@pytest.mark.parametrize(
    ("name", "dataset", "options"),
    [("trar", "vqa", {}), ("trar", "clevr", {}), ("mcan", "vqa", {}), ("lsat", "clevr", {})],
)
def test_paper_configuration_forward_backward(name: str, dataset: str, options: dict) -> None:
    answers = 3129 if dataset == "vqa" else 28
    model = build_model(name, format=dataset, token_size=50, answer_size=answers, **options)
    cfg = model.cfg
    img = torch.randn(2, cfg.img_scale**2, cfg.img_feat_size)
    ques = torch.randint(1, 50, (2, 14))
    logits = model(img, ques)
    assert logits.shape == (2, answers)
    logits.logsumexp(-1).sum().backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


@pytest.mark.parametrize("name", ["trar", "lsat"])
def test_bf16_autocast_stays_close(name: str) -> None:
    model = build_model(name, format="clevr", token_size=TOKENS, answer_size=ANSWERS, **TINY).eval()
    img, ques = tiny_batch()
    with torch.no_grad():
        ref = model(img, ques)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = model(img, ques)
    assert low.dtype == torch.bfloat16 and torch.isfinite(low).all()
    assert (low.float() - ref).abs().max() < 0.1


def test_compiles_as_one_graph_and_matches_eager() -> None:
    model = build_model(
        "trar", format="clevr", token_size=TOKENS, answer_size=ANSWERS, **{**TINY, "layer": 1}
    ).eval()
    img, ques = tiny_batch()
    compiled = compile_model(model, fullgraph=True, backend="aot_eager")
    with torch.no_grad():
        assert torch.allclose(compiled(img, ques), model(img, ques), atol=1e-5)
    explained = torch._dynamo.explain(model)(img, ques)
    assert explained.graph_break_count == 0
