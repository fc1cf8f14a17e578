"""Adam step time over the paper model's parameters: foreach (official) versus fused.

TRAR at the paper configuration has about 58.6 M parameters (with the embedding); every
training step updates all of them, so on a 2-core CPU the optimizer is a large share of
the step. All variants run in one process on the same tensors.

    python benchmarks/bench_optimizer.py
"""

from __future__ import annotations

import argparse
import time

import torch

from lsat.models import build_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=5)
    args = parser.parse_args()
    model = build_model("trar", format="vqa", token_size=20573, answer_size=3129)
    params = list(model.parameters())
    for p in params:
        p.grad = torch.randn_like(p)
    total = sum(p.numel() for p in params)
    print(f"# torch {torch.__version__}, threads {torch.get_num_threads()}, {total:,} parameters")
    times = {}
    for name, kw in [("foreach", {"foreach": True}), ("fused", {"fused": True})]:
        opt = torch.optim.Adam(params, lr=1e-4, betas=(0.9, 0.98), eps=1e-9, **kw)
        opt.step()
        start = time.perf_counter()
        for _ in range(args.steps):
            opt.step()
        times[name] = (time.perf_counter() - start) / args.steps
        print(f"adam {name:8s} {1000 * times[name]:8.1f} ms/step")
    print(f"# fused speed-up: {times['foreach'] / times['fused']:.1f}×")


if __name__ == "__main__":
    main()
