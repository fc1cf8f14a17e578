"""The official noisy test of hard routing, available next to our deterministic one."""

from __future__ import annotations

import torch
from model_helpers import ANSWERS, TINY, TOKENS, tiny_batch

from lsat.models import build_model
from lsat.models.trar import set_eval_gumbel


def _model(routing: str, binarize: bool):
    opts = {**TINY, "dropout_r": 0.0, "routing": routing, "binarize": binarize}
    return build_model("trar", format="vqa", token_size=TOKENS, answer_size=ANSWERS, **opts)


def test_gumbel_eval_is_noisy_seeded_and_switched_off_again():
    torch.manual_seed(0)
    model = _model("hard", binarize=False).eval()
    img, ques = tiny_batch()
    with torch.no_grad():
        det = model(img, ques)
        assert set_eval_gumbel(model, 10.0) == TINY.get("layer", 6)  # one router per layer
        torch.manual_seed(3)
        a = model(img, ques)
        torch.manual_seed(3)
        b = model(img, ques)
        c = model(img, ques)
        assert torch.equal(a, b) and not torch.equal(a, c) and not torch.equal(a, det)
        assert set_eval_gumbel(model, None) > 0
        assert torch.equal(model(img, ques), det)


def test_gumbel_eval_binarized_picks_one_order_and_soft_routing_has_none():
    torch.manual_seed(0)
    model = _model("hard", binarize=True).eval()
    router = next(m for m in model.modules() if type(m).__name__ == "RoutingBlock")
    x = torch.randn(4, 16, router.mlp[0].in_features)
    set_eval_gumbel(model, 10.0)
    alpha = router(x, torch.tensor(1.0))
    assert torch.equal(alpha.sum(-1), torch.ones(4)) and set(alpha.unique().tolist()) <= {0, 1}
    assert set_eval_gumbel(_model("soft", binarize=False), 10.0) == 0
