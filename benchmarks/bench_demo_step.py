"""The demo's TRAR training step under model-option variants, side by side in one process.

The demo network is tiny (hidden 64, 16 cells, 11 tokens), so on a CPU its step is bound by
small matrix products: how the hidden size is cut into heads changes the speed at the same
FLOPs. This times whole training steps (forward, backward, fused Adam) of the config's demo
network with each ``--variant`` of its options, in alternating rounds so that the ratios are
measured on the same machine state (benchmarks/RESULTS.md, "The demo's training, fourth
round"). The first variant is the reference; the default compares two heads with four.

    python benchmarks/bench_demo_step.py [--threads 1] [--rounds 6] [--variant multi_head=4 ...]
    python benchmarks/bench_demo_step.py --thread-counts 1,2   # wall samples/s per thread count
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
import yaml
from bench_softmax import demo_network, samples_per_cpu_second, training_step

from lsat.engine.cpu import retain_freed_memory


def parse_variant(text: str) -> dict[str, object]:
    """``key=value[,key=value]`` with YAML values, e.g. ``multi_head=2,ff_size=256``."""
    pairs = (item.split("=", 1) for item in text.split(","))
    return {key.strip(): yaml.safe_load(value) for key, value in pairs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--steps", type=int, default=12, help="steps per round")
    parser.add_argument("--variant", action="append", type=parse_variant,
                        help="model options over the config's (repeatable)")  # fmt: skip
    parser.add_argument(
        "--thread-counts", default=None, help="e.g. 1,2: the config's step per count, wall"
    )
    args = parser.parse_args()
    if args.thread_counts:
        compare_threads([int(n) for n in args.thread_counts.split(",")], args.rounds, args.steps)
        return
    variants = args.variant or [{"multi_head": 4}, {"multi_head": 2}]
    torch.set_num_threads(args.threads)
    retain_freed_memory()  # as the engine does on CPU
    batch, channels, options = demo_network()
    print(f"torch {torch.__version__}, {torch.backends.cpu.get_cpu_capability()}, "
          f"{args.threads} thread(s), batch {batch}, 16 cells x {channels} channels")  # fmt: skip
    steps: list[Callable[[], None]] = [
        training_step(batch, 11, 16, channels, 19, **{**options, **v}) for v in variants
    ]
    rates: list[list[float]] = [[] for _ in variants]
    for step in steps:
        step()  # warm-up
    for _ in range(args.rounds):
        for step, rate in zip(steps, rates, strict=True):
            rate.append(samples_per_cpu_second(step, batch, args.steps))
    reference = statistics.median(rates[0])
    for variant, rate in zip(variants, rates, strict=True):
        median = statistics.median(rate)
        print(f"{variant}: {median:,.0f} samples per CPU s (median of {args.rounds}), "
              f"{median / reference:.2f}x the first")  # fmt: skip


def compare_threads(counts: list[int], rounds: int, steps: int) -> None:
    """Wall-clock samples/s of the config's demo step at each torch thread count.

    Wall time, not CPU time: the question is what a second core buys the one training run of
    ``make demo``. Counts alternate within each round, so a drifting VM affects all alike.
    """
    retain_freed_memory()
    batch, channels, options = demo_network()
    step = training_step(batch, 11, 16, channels, 19, **options)
    step()  # warm-up
    rates: dict[int, list[float]] = {n: [] for n in counts}
    for _ in range(rounds):
        for n in counts:
            torch.set_num_threads(n)
            start = time.perf_counter()
            for _ in range(steps):
                step()
            rates[n].append(steps * batch / (time.perf_counter() - start))
    first = statistics.median(rates[counts[0]])
    for n in counts:
        median = statistics.median(rates[n])
        spread = f"{min(rates[n]):,.0f}-{max(rates[n]):,.0f}"
        print(f"{n} thread(s): {median:,.0f} samples/s wall (median of {rounds}; {spread}), "
              f"{median / first:.2f}x the first")  # fmt: skip


if __name__ == "__main__":
    main()
