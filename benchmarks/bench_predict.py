"""Prediction throughput (questions/s) of TRAR, MCAN and LSAT at the paper configuration.

Eval mode, no autograd, batch 256 of random 8×8×2048 features and 14-token questions (what
``lsat predict`` does per batch after loading, with its process settings: on CPU the glibc
heap kept warm), in one process so the ratios compare like with like. Variants: ``eager``
(fp32, attention backend ``auto``, i.e. SDPA in eval), ``explicit`` (fp32, the official
attention maps) and ``bf16`` (autocast, ``auto``).

    python benchmarks/bench_predict.py [--device cuda] [--models trar] [--variants eager,bf16]
"""

from __future__ import annotations

import argparse
import time

import torch

from lsat.engine.cpu import retain_freed_memory
from lsat.models import build_model, set_attention_backend

TOKENS, ANSWERS, T, N, C = 20573, 3129, 14, 64, 2048


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--models", default="trar,mcan,lsat")
    parser.add_argument("--variants", default="eager,explicit")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--batches", type=int, default=3)
    args = parser.parse_args()
    dev = args.device
    if dev == "cpu":
        retain_freed_memory()
    print(f"# torch {torch.__version__}, threads {torch.get_num_threads()}, device {dev}")
    g = torch.Generator().manual_seed(0)
    img = torch.randn(args.batch_size, N, C, generator=g).to(dev)
    ques = torch.randint(3, TOKENS, (args.batch_size, T), generator=g).to(dev)
    sync = torch.cuda.synchronize if dev == "cuda" else (lambda: None)
    for name in args.models.split(","):
        model = build_model(name, format="vqa", token_size=TOKENS, answer_size=ANSWERS)
        model = model.to(dev).eval()
        for variant in args.variants.split(","):
            amp = variant == "bf16"
            set_attention_backend(model, "explicit" if variant == "explicit" else "auto")
            with torch.inference_mode(), torch.autocast(dev, torch.bfloat16, enabled=amp):
                model(img, ques).argmax(1)
                sync()
                start = time.perf_counter()
                for _ in range(args.batches):
                    model(img, ques).argmax(1).cpu()
                sync()
            rate = args.batch_size * args.batches / (time.perf_counter() - start)
            print(f"{name:5s} {variant:8s} {rate:9.1f} questions/s")


if __name__ == "__main__":
    main()
