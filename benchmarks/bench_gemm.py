"""The machine's matrix-product rate at the paper model's shapes: the ceiling of training.

Nearly all of the paper configuration's FLOPs are linear layers: about 84 % with 4,096 rows
(batch 64 × 64 image cells) and 15 % with 896 (64 × 14 words), in their forward and two
backward products. ``GFLOP/s`` here over ``GFLOP/sample`` therefore bounds the samples/s
that any implementation of the model reaches on this machine in this precision, however
well the rest of the step is fused.

    python benchmarks/bench_gemm.py [--dtype float32] [--gflop-per-sample 10.9]
"""

from __future__ import annotations

import argparse
import time

import torch

SHAPES = {  # (rows, in, out) of the paper model's products
    "projection 512→512": (4096, 512, 512),
    "feed-forward 512→2048": (4096, 512, 2048),
    "feed-forward 2048→512": (4096, 2048, 512),
    "words 512→2048": (896, 512, 2048),
}


def rate(m: int, k: int, n: int, dtype: torch.dtype, repeats: int) -> float:
    a, b = torch.randn(m, k, dtype=dtype), torch.randn(k, n, dtype=dtype)
    for _ in range(2):
        a @ b
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * m * k * n * repeats / (time.perf_counter() - start) / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument(
        "--gflop-per-sample",
        type=float,
        default=10.9,
        help="training FLOPs per sample counted by bench_train.py: TRAR 10.92 (SDPA 11.38), "
        "MCAN 10.91, LSAT 10.94 (2026-12-02)",
    )
    args = parser.parse_args()
    dtype = getattr(torch, args.dtype)
    print(f"# torch {torch.__version__}, threads {torch.get_num_threads()}, {args.dtype}")
    rates = []
    for name, shape in SHAPES.items():
        r = rate(*shape, dtype, args.repeats)
        rates.append(r)
        print(f"{name:24s} {r:7.1f} GFLOP/s")
    best, worst = max(rates), min(rates)
    print(
        f"# ceiling at {args.gflop_per_sample} GFLOP/sample: "
        f"{worst / args.gflop_per_sample:.1f}–{best / args.gflop_per_sample:.1f} samples/s"
    )


if __name__ == "__main__":
    main()
