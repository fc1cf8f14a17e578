"""Each family's seeded numbers are pinned to a recorded reference (family_reference.json).

A refactor of the models must keep the state dict (names, shapes, initial values) and the
numbers exactly: official checkpoints load by name, resumes replay bit for bit. The
reference was computed before the models were split into one file per family.

Initial weights come from torch's CPU generator alone, so their hash is the same on every
machine. Logits are compared bit for bit when the torch version, CPU vendor and instruction
set are the ones the reference was recorded with (a different SIMD width may round a matmul
differently, and MKL takes other code paths on AMD than on Intel at the same AVX-512), else
within 1e-5. Rewrite the file (only for a deliberate change of the numbers) with
``.venv/bin/python tests/models/test_family_reference.py``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import platform
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from model_helpers import ANSWERS, TINY, TOKENS, tiny_batch

from lsat.models import build_model, set_attention_backend
from lsat.provenance import cpu_info

REFERENCE = Path(__file__).with_name("family_reference.json")
CASES: dict[str, tuple[str, str, dict[str, Any]]] = {
    "trar-vqa": ("trar", "vqa", {}),
    "trar-vqa-hard-attention": ("trar", "vqa", {"routing": "hard", "pooling": "attention"}),
    "trar-clevr": ("trar", "clevr", {}),
    "mcan-vqa": ("mcan", "vqa", {}),
    "mcan-clevr": ("mcan", "clevr", {}),
    "lsat-vqa": ("lsat", "vqa", {}),
    "lsat-clevr": ("lsat", "clevr", {}),
}


def state_digests(model: torch.nn.Module) -> tuple[str, str]:
    """sha256 of the state dict's keys and shapes, and of those with every value, in order."""
    names, full = hashlib.sha256(), hashlib.sha256()
    for key, value in model.state_dict().items():
        names.update(f"{key}:{tuple(value.shape)}:{value.dtype};".encode())
        full.update(f"{key}:{tuple(value.shape)}:{value.dtype};".encode())
        full.update(value.detach().contiguous().numpy().tobytes())
    return names.hexdigest(), full.hexdigest()


def encode(t: torch.Tensor) -> str:
    """A float32 tensor's bytes, base64: exact and a fifth the size of decimal text."""
    return base64.b64encode(t.detach().float().contiguous().numpy().tobytes()).decode()


def decode(text: str, like: torch.Tensor) -> torch.Tensor:
    raw = bytearray(base64.b64decode(text))
    return torch.frombuffer(raw, dtype=torch.float32).view(like.shape)


def run_case(name: str, fmt: str, options: dict[str, Any]) -> dict[str, Any]:
    """Seeded build; eval logits (both backends), a training forward, one SGD step."""
    torch.manual_seed(0)
    model = build_model(
        name, format=fmt, token_size=TOKENS, answer_size=ANSWERS, **{**TINY, **options}
    )
    keys, state = state_digests(model)
    out: dict[str, Any] = {"keys": keys, "state": state}
    out["tau"] = model.update_tau(1, 4, 2)
    img, ques = tiny_batch()
    model.eval()
    with torch.no_grad():
        for backend in ("explicit", "sdpa"):
            out[f"eval_{backend}"] = encode(set_attention_backend(model, backend)(img, ques))
    set_attention_backend(model, "auto").train()
    torch.manual_seed(1)
    logits = model(img, ques)
    out["train"] = encode(logits)
    torch.nn.functional.cross_entropy(logits, torch.arange(3) % ANSWERS).backward()
    with torch.no_grad():
        for p in model.parameters():
            p -= 0.5 * p.grad
        out["after_step"] = encode(model.eval()(img, ques))
    return out


def machine() -> dict[str, str]:
    return {
        "torch": torch.__version__,
        "cpu": torch.backends.cpu.get_cpu_capability(),
        # GenuineIntel, AuthenticAMD, ...
        "vendor": cpu_info("vendor_id") or platform.processor() or "unknown",
    }


@pytest.fixture(scope="module")
def reference() -> dict[str, Any]:
    return json.loads(REFERENCE.read_text())


@pytest.mark.parametrize("case", sorted(CASES))
def test_family_matches_its_reference(case: str, reference: dict[str, Any]) -> None:
    torch.set_num_threads(1)
    got, want = run_case(*CASES[case]), reference["cases"][case]
    assert got["keys"] == want["keys"], f"{case}: state-dict names or shapes changed"
    assert got["state"] == want["state"]
    assert got["tau"] == want["tau"]
    exact = reference["machine"] == machine()
    for what in ("eval_explicit", "eval_sdpa", "train", "after_step"):
        have = decode(got[what], torch.empty(3, ANSWERS))
        ref = decode(want[what], have)
        if exact:
            assert torch.equal(have, ref), f"{case} {what}: not bitwise equal"
        else:
            torch.testing.assert_close(have, ref, rtol=0, atol=1e-5)


if __name__ == "__main__":
    torch.set_num_threads(1)
    record = {"machine": machine(), "cases": {k: run_case(*v) for k, v in CASES.items()}}
    REFERENCE.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
    sys.exit(0)
