"""Training throughput (samples/s) of TRAR, MCAN and LSAT at the paper configuration.

Paper configuration (docs/sources.md): batch 64, 8×8×2048 grid features, 14 question tokens,
20,573 tokens, 3,129 answers, Adam (0.9, 0.98), BCE-with-logits summed. Each variant runs
warm-up steps (compilation, allocator) then timed steps on random inputs, each in its own
subprocess (the allocator settings are per process) started one after the other by one
invocation, so ratios between variants are measured on the same machine state.

Variants: ``eager`` is what the engine runs (attention backend ``auto``, the CPU dropout mask
of ``lsat.models.kernels``, glibc's heap kept warm on CPU); ``plain`` is the same model with
SDPA everywhere, ``torch``'s own dropout and glibc's default allocator (this project before
0.9, and the baseline of the CPU speed-ups); ``compile`` adds ``torch.compile`` (with the
engine's ``allow_rnn``, so the question LSTM is in the graph: one graph, not six),
``cudagraphs`` compiles in mode ``reduce-overhead`` (CUDA graphs), ``bf16`` autocast to
bfloat16.

    python benchmarks/bench_train.py                      # CPU: trar/mcan/lsat × plain/eager
    python benchmarks/bench_train.py --device cuda --variants bf16,bf16+compile,bf16+cudagraphs

On CUDA it also prints model FLOP utilisation (MFU), counting the training FLOPs per sample
with torch's FLOP counter, against the bf16 matrix-product rate measured on the device at
the start (an 8192³ product on random data; ``--peak-tflops`` overrides it: the H200 here
measures about 790 TFLOP/s dense, not the 989 of the datasheet). Compiled rows report the
compile time (first step minus a steady step), the graphs made and the graph breaks.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import time

import torch
import torch._dynamo
from torch._dynamo.utils import counters
from torch.utils.flop_counter import FlopCounterMode

import lsat.models.kernels as model_kernels
from lsat.engine.cpu import retain_freed_memory
from lsat.models import build_model, set_attention_backend

TOKENS, ANSWERS, T, N, C = 20573, 3129, 14, 64, 2048


def make_step(model, optimizer, amp: torch.dtype | None, device: str):
    loss_fn = torch.nn.BCEWithLogitsLoss(reduction="sum")

    def step(img, ques, target):
        with torch.autocast(device_type=device, dtype=amp, enabled=amp is not None):
            logits = model(img, ques)
        loss = loss_fn(logits.float(), target)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return loss.detach()

    return step


def batch(batch_size: int, device: str):
    g = torch.Generator().manual_seed(0)
    img = torch.randn(batch_size, N, C, generator=g).to(device)
    ques = torch.randint(3, TOKENS, (batch_size, T), generator=g).to(device)
    target = (torch.rand(batch_size, ANSWERS, generator=g) > 0.999).float().to(device)
    return img, ques, target


def flops_per_sample(name: str, device: str, batch_size: int) -> float:
    model = build_model(name, format="vqa", token_size=TOKENS, answer_size=ANSWERS).to(device)
    img, ques, target = batch(batch_size, device)
    counter = FlopCounterMode(display=False)
    with counter:
        loss = torch.nn.functional.binary_cross_entropy_with_logits(
            model(img, ques), target, reduction="sum"
        )
        loss.backward()
    return counter.get_total_flops() / batch_size


def measure(name: str, variant: str, args) -> dict:
    torch.manual_seed(0)
    device = args.device
    model = build_model(name, format="vqa", token_size=TOKENS, answer_size=ANSWERS).to(device)
    model.train()
    plain = "plain" in variant
    set_attention_backend(model, "sdpa" if plain else "auto")
    model_kernels.FAST_CPU_DROPOUT = not plain
    if device == "cpu" and not plain:
        retain_freed_memory()
    opt = torch.optim.Adam(
        model.parameters(), lr=1e-4, betas=(0.9, 0.98), eps=1e-9, fused=args.fused_adam
    )
    amp = torch.bfloat16 if "bf16" in variant else None
    step = make_step(model, opt, amp, device)
    compiled = "compile" in variant or "cudagraphs" in variant
    if compiled:
        torch._dynamo.config.allow_rnn = True  # as the engine: the LSTM inside the graph
        mode = "max-autotune-no-cudagraphs" if "autotune" in variant else None
        mode = "reduce-overhead" if "cudagraphs" in variant else mode
        model.forward = torch.compile(model.forward, mode=mode)
    img, ques, target = batch(args.batch_size, device)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    first = time.perf_counter()
    step(img, ques, target)
    sync()
    first = time.perf_counter() - first
    for _ in range(args.warmup - 1):
        step(img, ques, target)
    sync()
    start = time.perf_counter()
    for _ in range(args.steps):
        loss = step(img, ques, target)
    loss.item()
    sync()
    elapsed = time.perf_counter() - start
    row = {
        "model": name,
        "variant": variant,
        "samples_per_s": args.batch_size * args.steps / elapsed,
        "step_ms": 1000 * elapsed / args.steps,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    if device == "cuda":
        row["peak_gpu_mb"] = torch.cuda.max_memory_allocated() / 2**20
    if compiled:
        row["compile_s"] = first - elapsed / args.steps
        row["graphs"] = int(counters["stats"]["unique_graphs"])
        row["graph_breaks"] = int(sum(counters["graph_break"].values()))
    return row


def measured_peak_tflops(size: int = 8192, reps: int = 10) -> float:
    """bf16 matrix-product rate of this GPU (random data; median of ``reps`` after warm-up)."""
    g = torch.Generator(device="cuda").manual_seed(0)
    a = torch.randn(size, size, device="cuda", dtype=torch.bfloat16, generator=g)
    b = torch.randn(size, size, device="cuda", dtype=torch.bfloat16, generator=g)
    for _ in range(3):
        a @ b
    times = []
    for _ in range(reps):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        a @ b
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end) / 1e3)
    return 2 * size**3 / sorted(times)[len(times) // 2] / 1e12


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--models", default="trar,mcan,lsat")
    parser.add_argument("--variants", default="plain,eager")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--steps", type=int, help="timed steps (default 50 on CUDA, 10 on CPU)")
    parser.add_argument("--warmup", type=int, help="warm-up steps (default 10 on CUDA, 3 on CPU)")
    parser.add_argument(
        "--no-fused-adam",
        dest="fused_adam",
        action="store_false",
        help="Adam's foreach implementation (the official code's) instead of the fused one",
    )
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = default)")
    parser.add_argument(
        "--peak-tflops", type=float, default=0.0, help="bf16 peak for MFU (0 = measure it)"
    )
    parser.add_argument("--json", help="also write the rows to this JSON file")
    parser.add_argument("--jsonl", help="also append each row to this file as it is measured")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    cuda = args.device == "cuda"
    args.steps = args.steps or (50 if cuda else 10)
    args.warmup = max(1, args.warmup or (10 if cuda else 3))
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.device == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    print(
        f"# torch {torch.__version__}, {platform.processor() or platform.machine()}, "
        f"threads {torch.get_num_threads()}, device {args.device}"
        + (f" ({torch.cuda.get_device_name()})" if args.device == "cuda" else "")
    )
    if args.child:  # one row, measured in this process
        name, variant = args.child.split(":")
        row = measure(name, variant, args)
        row["gflop_per_sample"] = flops_per_sample(name, args.device, 4) / 1e9
        print(json.dumps(row))
        return
    if cuda and not args.peak_tflops:
        args.peak_tflops = measured_peak_tflops()
        print(f"# measured bf16 matrix-product peak: {args.peak_tflops:.0f} TFLOP/s", flush=True)
    rows = []
    passthrough = [
        *("--device", args.device, "--batch-size", str(args.batch_size)),
        *("--steps", str(args.steps), "--warmup", str(args.warmup), "--threads", str(args.threads)),
        *([] if args.fused_adam else ["--no-fused-adam"]),
    ]
    for name in args.models.split(","):
        for variant in args.variants.split(","):
            out = subprocess.run(
                [sys.executable, __file__, *passthrough, "--child", f"{name}:{variant}"],
                capture_output=True,
                text=True,
            )
            if out.returncode != 0:
                sys.exit(f"{name} {variant} failed:\n{out.stderr}")
            row = json.loads(out.stdout.strip().splitlines()[-1])
            row["achieved_tflops"] = row["samples_per_s"] * row["gflop_per_sample"] / 1e3
            if args.device == "cuda":
                row["mfu_percent"] = 100 * row["achieved_tflops"] / args.peak_tflops
            rows.append(row)
            if args.jsonl:
                with open(args.jsonl, "a") as f:
                    f.write(json.dumps(row) + "\n")
            extra = f"  MFU {row['mfu_percent']:.1f}%" if "mfu_percent" in row else ""
            if "compile_s" in row:
                extra += (
                    f"  compile {row['compile_s']:.1f} s, {row['graphs']} graph(s), "
                    f"{row['graph_breaks']} break(s)"
                )
            print(
                f"{name:5s} {variant:14s} {row['samples_per_s']:9.1f} samples/s  "
                f"{row['step_ms']:8.1f} ms/step  {row['gflop_per_sample']:.2f} GFLOP/sample"
                f"  {row['achieved_tflops']:.3f} TFLOP/s  peak RSS {row['peak_rss_mb']:.0f} MB"
                f"{extra}",
                flush=True,
            )
        base = {r["variant"]: r["samples_per_s"] for r in rows if r["model"] == name}
        if "plain" in base:
            print(
                f"# {name}: "
                + ", ".join(f"{v} {sps / base['plain']:.2f}×" for v, sps in base.items())
                + " the plain row"
            )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)


if __name__ == "__main__":
    main()
