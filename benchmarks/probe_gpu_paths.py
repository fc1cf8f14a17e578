"""CPU probes of the code the GPU runs: dynamo graphs and host read-backs, no GPU needed.

- ``graphs``: ``torch._dynamo.explain`` of each model with the SDPA attention backend (the
  GPU path: the fully-masked-row guard, TRAR's 4-D fold), with and without ``allow_rnn``
  (the engine sets it; without it the question LSTM splits the model into 6 graphs).
- ``meta``: a forward and backward of each model on the meta device (where ``auto`` picks
  SDPA, as on a GPU) under a dispatch mode that counts the ops reading a value back to the
  host (``.item()``, ``bool(t)``, ``nonzero``...): each would be a sync on a GPU.

    python benchmarks/probe_gpu_paths.py
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

import torch
import torch._dynamo
from torch.utils._python_dispatch import TorchDispatchMode

from lsat.models import build_model, set_attention_backend

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "models"))
from model_helpers import ANSWERS, TINY, TOKENS, tiny_batch

READ_BACKS = {"_local_scalar_dense", "item", "is_nonzero", "nonzero", "equal", "masked_select"}


class ReadBacks(TorchDispatchMode):
    def __init__(self) -> None:
        super().__init__()
        self.seen: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        if func.overloadpacket.__name__ in READ_BACKS:
            self.seen.append(func.overloadpacket.__name__)
        return func(*args, **(kwargs or {}))


def model(name: str) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model(name, format="vqa", token_size=TOKENS, answer_size=ANSWERS, **TINY)


def graphs(name: str, allow_rnn: bool) -> str:
    torch._dynamo.reset()
    torch._dynamo.config.allow_rnn = allow_rnn
    m = set_attention_backend(model(name), "sdpa")
    img, ques = tiny_batch()
    img[1] = 0  # fully masked image queries
    e = torch._dynamo.explain(m)(img, ques)
    return f"{e.graph_count} graph(s), {e.graph_break_count} break(s)"


def meta_read_backs(name: str) -> list[str]:
    m = model(name).to("meta")
    img, ques = (t.to("meta") for t in tiny_batch())
    real_autocast = torch.autocast
    torch.autocast = lambda *a, **k: contextlib.nullcontext()  # autocast has no meta dtype
    try:
        with ReadBacks() as counter:
            m(img, ques).float().sum().backward()
    finally:
        torch.autocast = real_autocast
    return counter.seen


def main() -> None:
    print(f"# torch {torch.__version__}")
    for name in ("trar", "mcan", "lsat"):
        print(
            f"{name:5s} graphs: allow_rnn off {graphs(name, False)}; on {graphs(name, True)};"
            f"  meta forward+backward read-backs: {meta_read_backs(name) or 'none'}",
            flush=True,
        )


if __name__ == "__main__":
    main()
