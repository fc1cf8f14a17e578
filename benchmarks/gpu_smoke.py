"""GPU smoke test of TRAR, MCAN and LSAT: the checks a first lent GPU must pass.

Per model, on a batch with padded words, padded grid cells and one image made only of
padding (every image query fully masked, over the 8×8 grid's 64 keys: the case of the cuDNN
backward NaN, pytorch/pytorch#196678):

- ``sdpa-vs-explicit``: eval logits of the SDPA path against the official explicit maps
  (fp32, TF32 off), relative error;
- ``train-fp32``, ``train-bf16``, ``train-bf16+compile``: a training forward and backward
  (summed BCE), every logit and every gradient finite, some gradient non-zero;
- ``step-no-sync``: the engine's own training step (``Trainer._train_step`` on batches of
  its ``gpu``-residency ``BatchSource``) under ``torch.cuda.set_sync_debug_mode``: the
  number of host synchronisations it reports (0 expected). On the CPU the read-back ops
  are counted by a dispatch mode instead.

One JSON line per check on stdout (and in ``--out``); exit status 1 if any check failed.
``--tiny`` uses a small network (the CPU dry run of benchmarks/gpu_check.sh); ``--no-compile``
skips the compiled row (compiling costs minutes on a CPU).

    python benchmarks/gpu_smoke.py --out smoke.jsonl
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode

from lsat.engine.distributed import DistEnv
from lsat.engine.layout import RunLayout
from lsat.engine.trainer import Trainer, TrainSpec
from lsat.models import build_model, set_attention_backend
from lsat.settings import TrainSettings, from_mapping

TOKENS, ANSWERS, T = 300, 50, 14
TINY = {
    "layer": 1,
    "hidden_size": 32,
    "ff_size": 64,
    "multi_head": 4,
    "flat_mlp_size": 32,
    "flat_out_size": 64,
    "word_embed_size": 16,
    "img_feat_size": 24,
    "img_scale": 8,
    "orders": [0, 1, 2],
    "window_size": 2,
}


def make_model(name: str, tiny: bool, device: torch.device) -> torch.nn.Module:
    opts = dict(TINY) if tiny else {}
    torch.manual_seed(0)
    model = build_model(name, format="vqa", token_size=TOKENS, answer_size=ANSWERS, **opts)
    return model.to(device)


def make_batch(model: torch.nn.Module, batch: int, device: torch.device) -> tuple[Any, ...]:
    """Features, questions and targets with padding and one fully padded image."""
    cfg = model.cfg
    g = torch.Generator().manual_seed(1)
    img = torch.randn(batch, cfg.img_scale**2, cfg.img_feat_size, generator=g)
    img[0, -20:] = 0  # padded cells
    img[1] = 0  # an image of padding only: every image query fully masked
    ques = torch.randint(1, TOKENS, (batch, T), generator=g)
    ques[:, 9:] = 0  # padded words
    target = (torch.rand(batch, ANSWERS, generator=g) > 0.9).float()
    return img.to(device), ques.to(device), target.to(device)


def check_sdpa_vs_explicit(model: torch.nn.Module, data: tuple[Any, ...]) -> dict[str, Any]:
    img, ques, _ = data
    model.eval()
    tf32 = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        with torch.inference_mode():
            fast = set_attention_backend(model, "sdpa")(img, ques).double()
            slow = set_attention_backend(model, "explicit")(img, ques).double()
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = tf32
        set_attention_backend(model, "auto")
    rel = float((fast - slow).norm() / slow.norm())
    return {"rel_error": rel, "ok": bool(torch.isfinite(fast).all()) and rel < 1e-3}


def check_train(model: torch.nn.Module, data: tuple[Any, ...], variant: str) -> dict[str, Any]:
    img, ques, target = data
    model.train()
    model.zero_grad(set_to_none=True)
    net = model
    if "compile" in variant:
        torch._dynamo.config.allow_rnn = True
        net = torch.compile(model)
    dtype = torch.bfloat16 if "bf16" in variant else None
    start = time.perf_counter()
    with torch.autocast(img.device.type, dtype=dtype, enabled=dtype is not None):
        logits = net(img, ques)
    loss = F.binary_cross_entropy_with_logits(logits.float(), target, reduction="sum")
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    finite = all(bool(torch.isfinite(t).all()) for t in [logits, *grads])
    nonzero = any(bool(g.abs().sum() > 0) for g in grads)
    seconds = time.perf_counter() - start
    return {"loss": loss.item(), "finite": finite, "ok": finite and nonzero, "seconds": seconds}


class _InMemoryQA:
    """The dataset contract of the engine's batch source, over random features."""

    def __init__(self, model: torch.nn.Module, n: int = 256, images: int = 64) -> None:
        cfg = model.cfg
        rng = np.random.default_rng(0)
        self.bank = rng.standard_normal((images, cfg.img_scale**2, cfg.img_feat_size))
        self.bank = self.bank.astype(np.float16)
        self.bank[1] = 0  # a fully padded image
        self.image_row = rng.integers(0, images, n).astype(np.int64)
        self.ques_ix = rng.integers(1, TOKENS, (n, T)).astype(np.int64)
        self.target_ix = rng.integers(0, ANSWERS, (n, 10)).astype(np.int64)
        self.target_score = np.full((n, 10), 0.3, np.float32)

    def __len__(self) -> int:
        return len(self.ques_ix)

    def feature_bank(self) -> np.ndarray:
        return self.bank


class _ReadBacks(TorchDispatchMode):
    """Counts the ops that read a value back to the host (what syncs on a GPU)."""

    OPS = ("_local_scalar_dense", "item", "is_nonzero", "nonzero", "equal", "masked_select")

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        self.count += func.overloadpacket.__name__ in self.OPS
        return func(*args, **(kwargs or {}))


def _train_cfg(device: torch.device) -> TrainSettings:
    return from_mapping(TrainSettings, {
        "splits": ["train"], "result_split": None, "seeds": None, "residency_fallback": "disk",
        "cpu_threads": None,
        "batch_size": 32, "grad_accu_steps": 2, "max_epoch": 1, "lr_base": 1e-4,
        "lr_decay_rate": 0.2, "lr_decay_list": [1], "warmup_epochs": 0,
        "opt_betas": [0.9, 0.98], "opt_eps": 1e-9, "loss": "bce", "seed": 1,
        "num_workers": 0, "amp": "auto", "compile": False, "deterministic": None,
        "tf32": None, "eval_every_epoch": False,
        "feature_residency": "gpu" if device.type == "cuda" else "ram",
    }, "gpu_smoke")  # fmt: skip


def check_step_no_sync(model: torch.nn.Module, device: torch.device) -> dict[str, Any]:
    """The engine's step on its own batches: host synchronisations counted (0 expected)."""
    data = _InMemoryQA(model)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        layout = RunLayout(
            checkpoint_dir=root / "ck",
            final_model=root / "model.pt",
            metrics=root / "metrics.json",
            log=root / "log.txt",
            curves=root / "curves.png",
        )
        spec = TrainSpec(train=_train_cfg(device), layout=layout, settings={})
        trainer = Trainer(model, data, spec, DistEnv(device=device))
        steps = [np.arange(s, s + 32) for s in range(0, 160, 32)]
        batches = trainer.source.batches(steps)
        trainer._train_step(next(batches))  # warm-up: lazy initialisation may sync once
        if device.type == "cuda":
            torch.cuda.synchronize()
            with warnings.catch_warnings(record=True) as seen:
                warnings.simplefilter("always")
                torch.cuda.set_sync_debug_mode("warn")
                try:
                    for batch in batches:
                        trainer._train_step(batch)
                finally:
                    torch.cuda.set_sync_debug_mode("default")
            syncs = sum("synchroniz" in str(w.message) for w in seen)
        else:
            with _ReadBacks() as counter:
                for batch in batches:
                    trainer._train_step(batch)
            syncs = counter.count
    return {"host_syncs": syncs, "residency": spec.train.feature_residency, "ok": syncs == 0}


def run_model(name: str, args: argparse.Namespace, device: torch.device) -> list[dict[str, Any]]:
    model = make_model(name, args.tiny, device)
    data = make_batch(model, args.batch_size, device)
    rows = [{"check": "sdpa-vs-explicit", **check_sdpa_vs_explicit(model, data)}]
    variants = ["train-fp32", "train-bf16"] + ([] if args.no_compile else ["train-bf16+compile"])
    rows += [{"check": v, **check_train(model, data, v)} for v in variants]
    rows.append({"check": "step-no-sync", **check_step_no_sync(model, device)})
    return [{"model": name, "device": str(device), **r} for r in rows]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--models", default="trar,mcan,lsat")
    parser.add_argument("--batch-size", type=int, default=64, help="64: the shapes of bench_train")
    parser.add_argument("--tiny", action="store_true", help="a small network (CPU dry run)")
    parser.add_argument("--no-compile", action="store_true", help="skip the compiled row")
    parser.add_argument("--out", help="also append the JSON lines to this file")
    args = parser.parse_args()
    device = torch.device(args.device)
    failed = 0
    for name in args.models.split(","):
        for row in run_model(name, args, device):
            failed += not row["ok"]
            line = json.dumps(row)
            print(line, flush=True)
            if args.out:
                with open(args.out, "a", encoding="utf-8") as f:
                    f.write(line + "\n")
    print(f"# smoke: {failed} check(s) failed", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
