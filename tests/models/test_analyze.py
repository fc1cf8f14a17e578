"""`lsat analyze`'s recorders on real models: TRAR router weights (a distribution over the
orders per layer), LSAT gates (σ of the gate layer, per layer) and the answer head's image
attention (a distribution over the grid cells, none on padding)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from model_helpers import ANSWERS, TINY, TOKENS, tiny_batch

from lsat.analyze import by_type, summarise
from lsat.models import build_model


class _Data:
    def __init__(self, img: torch.Tensor, ques: torch.Tensor) -> None:
        self.img, self.ques = img, ques
        self.question_ids = np.arange(len(img))

    def __len__(self) -> int:
        return len(self.img)

    def read_batch(self, idx: np.ndarray) -> dict[str, np.ndarray]:
        return {"img_feat": self.img[idx].numpy(), "ques_ix": self.ques[idx].numpy()}


def _record(name: str):
    from lsat.analyze import record

    torch.manual_seed(0)
    model = build_model(name, format="vqa", token_size=TOKENS, answer_size=ANSWERS, **TINY)
    img, ques = tiny_batch(batch=5)
    rec = record(model, _Data(img, ques), torch.device("cpu"), batch_size=2)
    return model, rec, img


def test_trar_routing_weights_per_layer_and_type():
    model, rec, _ = _record("trar")
    assert len(rec.routing) == TINY["layer"]  # one router per decoder layer
    types = ["a", "b", "a", "b", "b"]
    out = summarise(rec, types, list(model.cfg.orders))["routing"]
    assert out["orders"] == [0, 1, 2] and len(out["layers"]) == 2
    for entry in out["by_type"].values():
        weights = np.array(entry["mean"])  # (layers, orders), each row a distribution
        assert weights.shape == (2, 3) and np.allclose(weights.sum(axis=1), 1, atol=1e-5)
    assert out["by_type"]["b"]["n"] == 3 and "gates" not in summarise(rec, types, [0])


def test_lsat_gates_match_the_gate_layer():
    model, rec, img = _record("lsat")
    assert len(rec.gates) == TINY["layer"] and not rec.routing
    first = next(m for m in model.modules() if m.__class__.__name__ == "WindowAttention")
    adapter_out = None

    def grab(_m, inp, _out):
        nonlocal adapter_out
        adapter_out = inp[0]

    h = first.gate.register_forward_hook(grab)
    with torch.no_grad():
        model(img[:2], tiny_batch(batch=5)[1][:2])
    h.remove()
    with torch.no_grad():
        expected = torch.sigmoid(first.gate(adapter_out)).mean(dim=(1, 2)).numpy()
    got = rec.gates[next(iter(rec.gates))][0]
    np.testing.assert_allclose(got, expected, atol=1e-6)
    gates = summarise(rec, ["x"] * 5, [])["gates"]
    assert all(0 < g < 1 for g in gates["overall"])


@pytest.mark.parametrize("name", ["mcan", "trar", "lsat"])
def test_image_attention_is_a_distribution_over_cells(name):
    _, rec, _img = _record(name)
    att = np.concatenate(rec.attention)
    assert att.shape == (5, TINY["img_scale"] ** 2)
    np.testing.assert_allclose(att.sum(axis=1), 1, atol=1e-5)
    assert np.all(att[0, -3:] < 1e-6)  # the padding cells of example 0 get nothing


def test_by_type_means():
    vals = np.array([[1.0], [3.0], [5.0]])
    assert by_type(vals, ["q", "r", "q"]) == {
        "q": {"n": 2, "mean": [3.0]},
        "r": {"n": 1, "mean": [3.0]},
    }
