"""CPU softmax over few keys: torch's kernel against ``lsat.models.kernels.softmax_last``.

torch's CPU softmax over a last dimension shorter than 16 is several times slower than over
16, forward and backward; ``softmax_last`` pads such rows with −inf to 16 columns. This
prints (1) the kernel alone, forward + backward, per key count, and (2) whole TRAR training
steps (forward, backward, fused Adam) of the demo network (the config's batch, channels and
options, 11 tokens) and, with ``--paper``, of the paper configuration (batch 64, 14 tokens;
minutes on a CPU), with ``kernels.SOFTMAX_MIN_WIDTH`` switched between 0 (torch's softmax
everywhere) and 16 in alternating rounds of one process, so that the ratio is measured on the
same machine state.

    python benchmarks/bench_softmax.py [--threads 1] [--rounds 6] [--paper]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import yaml

import lsat.models.kernels as kernels
from lsat.engine.cpu import retain_freed_memory
from lsat.features.backends import pixels_channels
from lsat.models import build_model

CONFIG = Path(__file__).resolve().parents[1] / "config" / "config.yaml"


def kernel_ms(width: int, reps: int = 100) -> tuple[float, float]:
    """CPU ms of softmax forward + backward on (256, 4, 16, width): torch's, then ours."""
    x = torch.randn(256, 4, 16, width, requires_grad=True)
    grad = torch.randn(x.shape)
    times = []
    for fn in (lambda t: torch.softmax(t, -1), kernels.softmax_last):
        for _ in range(5):
            fn(x).backward(grad)
        start = time.process_time()
        for _ in range(reps):
            fn(x).backward(grad)
        times.append((time.process_time() - start) / reps * 1e3)
    return times[0], times[1]


def training_step(
    batch: int, tokens: int, cells: int, channels: int, answers: int, **options: Any
) -> Callable[[], None]:
    """A TRAR training step on random inputs (each question padded after 9 words)."""
    torch.manual_seed(0)
    model = build_model(
        "trar", format="vqa", token_size=42, answer_size=answers, img_feat_size=channels, **options
    ).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4, betas=(0.9, 0.98), fused=True)
    img = torch.randn(batch, cells, channels)
    ques = torch.randint(3, 42, (batch, tokens))
    ques[:, 9:] = 0
    target = (torch.rand(batch, answers) > 0.9).float()

    def step() -> None:
        loss = torch.nn.functional.binary_cross_entropy_with_logits(
            model(img, ques), target, reduction="sum"
        )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step


def demo_network() -> tuple[int, int, dict[str, Any]]:
    """The demo config's batch size, feature channels and model options."""
    demo = yaml.safe_load(CONFIG.read_text())["datasets"]["demo"]
    channels = pixels_channels(demo["features"]["cell_pixels"], demo["features"]["coords"])
    return demo["train"]["batch_size"], channels, demo["model"]["options"]


def samples_per_cpu_second(step: Callable[[], None], batch: int, steps: int) -> float:
    start = time.process_time()
    for _ in range(steps):
        step()
    return steps * batch / (time.process_time() - start)


def compare(label: str, step: Callable[[], None], batch: int, steps: int, rounds: int) -> None:
    """Median samples per CPU second with torch's softmax and with ours, rounds alternating."""
    for _ in range(2):
        step()
    rates: dict[int, list[float]] = {0: [], kernels.SOFTMAX_MIN_WIDTH: []}
    for _ in range(rounds):
        for width in rates:
            kernels.SOFTMAX_MIN_WIDTH = width
            rates[width].append(samples_per_cpu_second(step, batch, steps))
    kernels.SOFTMAX_MIN_WIDTH = max(rates)
    torch_rate, ours = (statistics.median(rates[w]) for w in sorted(rates))
    print(
        f"{label}: torch softmax {torch_rate:,.0f}, padded {ours:,.0f} samples per CPU s "
        f"(median of {rounds}): {ours / torch_rate:.2f}x"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--paper", action="store_true", help="also the paper-size step (slow)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    retain_freed_memory()  # as the engine does on CPU
    print(f"torch {torch.__version__}, {torch.backends.cpu.get_cpu_capability()}, "
          f"{args.threads} thread(s)")  # fmt: skip
    for width in (8, 11, 14, 16, 24):
        slow, fast = kernel_ms(width)
        print(f"softmax fwd+bwd (256, 4, 16, {width}): torch {slow:.2f} ms, padded {fast:.2f} ms")
    batch, channels, demo = demo_network()
    step = training_step(batch, 11, 16, channels, 19, **demo)
    compare(f"demo TRAR step (batch {batch}, 11 tokens)", step, batch, 12, args.rounds)
    if args.paper:
        step = training_step(64, 14, 64, 2048, 3129)
        compare("paper TRAR step (batch 64, 14 tokens, 8x8x2048)", step, 64, 2, args.rounds)


if __name__ == "__main__":
    main()
