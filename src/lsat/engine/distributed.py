"""Process-group set-up for DDP, from torchrun's or SLURM's environment, and self-launching.

A training process learns its place from the environment: torchrun sets ``RANK``,
``WORLD_SIZE`` and ``LOCAL_RANK``; ``srun`` sets ``SLURM_PROCID``, ``SLURM_NTASKS`` and
``SLURM_LOCALID``; there ``MASTER_ADDR`` is the job's first host (``SLURM_JOB_NODELIST``)
and ``MASTER_PORT`` derives from ``SLURM_JOB_ID`` (:mod:`lsat.engine.slurmenv`), so the
ranks of a multi-node job find each other. With
neither, the process is alone (world size 1, no process group). ``lsat train --nproc N``
re-executes the same command under torchrun (:mod:`lsat.engine.launch`) so a Snakemake/SLURM
rule with ``gpu: N`` gets N processes without knowing about torchrun.

Besides the main group (NCCL on CUDA, gloo on CPU) a gloo group carries the tiny CPU
collectives of the control flow (the stop flag checked every step), so they never force a
host-device synchronisation.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from lsat.engine.slurmenv import rendezvous
from lsat.errors import LsatError

INTERRUPT_MARKER_ENV = "LSAT_INTERRUPT_MARKER"


@dataclass
class DistEnv:
    """Where this process sits: rank, world size, local rank and its device."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    control_group: Any = None

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world > 1


def env_ranks(environ: dict[str, str] | None = None) -> tuple[int, int, int]:
    """(rank, world, local_rank) from torchrun's variables, else SLURM's, else (0, 1, 0)."""
    env = os.environ if environ is None else environ
    if "RANK" in env and "WORLD_SIZE" in env:
        return int(env["RANK"]), int(env["WORLD_SIZE"]), int(env.get("LOCAL_RANK", "0"))
    if int(env.get("SLURM_NTASKS", "1")) > 1 and "SLURM_PROCID" in env:
        return int(env["SLURM_PROCID"]), int(env["SLURM_NTASKS"]), int(env.get("SLURM_LOCALID", 0))
    return 0, 1, 0


def setup(use_cuda: bool | None = None) -> DistEnv:
    """Join the process group described by the environment (no-op for a single process)."""
    rank, world, local_rank = env_ranks()
    cuda = torch.cuda.is_available() if use_cuda is None else use_cuda
    device = torch.device("cuda", local_rank) if cuda else torch.device("cpu")
    if cuda:
        torch.cuda.set_device(device)
    if world == 1:
        return DistEnv(device=device)
    # Multi-node srun: the job's first host and a port of the job (lsat.engine.slurmenv).
    addr, port = rendezvous(os.environ)
    os.environ["MASTER_ADDR"], os.environ["MASTER_PORT"] = addr, str(port)
    os.environ["RANK"], os.environ["WORLD_SIZE"] = str(rank), str(world)
    if not dist.is_initialized():
        dist.init_process_group(
            backend="nccl" if cuda else "gloo",
            rank=rank,
            world_size=world,
            timeout=timedelta(minutes=30),
            device_id=device if cuda else None,
        )
    control = dist.new_group(backend="gloo") if cuda else dist.group.WORLD
    return DistEnv(rank, world, local_rank, device, control)


def teardown(env: DistEnv) -> None:
    if env.distributed and dist.is_initialized():
        dist.destroy_process_group()


def any_flag(env: DistEnv, flag: bool) -> bool:
    """True when ``flag`` is set on any rank (a CPU collective on the control group)."""
    if not env.distributed:
        return flag
    t = torch.tensor([1 if flag else 0], dtype=torch.int32)
    dist.all_reduce(t, op=dist.ReduceOp.MAX, group=env.control_group)
    return bool(t.item())


def barrier(env: DistEnv) -> None:
    if env.distributed:
        dist.barrier(group=env.control_group)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def inside_launch() -> bool:
    """True when this process is already one of several ranks."""
    return env_ranks()[1] > 1


def relaunch(nproc: int, argv: list[str], gpus: str | None = None) -> int:
    """Run ``python argv...`` as ``nproc`` ranks under torchrun; return its exit status.

    ``gpus`` (e.g. ``'0,1'``) sets ``CUDA_VISIBLE_DEVICES`` for the ranks; otherwise the
    caller's value is kept, so a SLURM allocation's devices are respected. SIGTERM and
    SIGUSR1 reach torchrun as SIGTERM (it forwards that to every rank, which then writes the
    interrupt checkpoint); the status is then 128 + the signal, as if this process had been
    interrupted itself.
    """
    if nproc < 2:
        raise LsatError(f"--nproc must be at least 2 to launch DDP, got {nproc}")
    env = dict(os.environ)
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "SLURM_PROCID", "SLURM_NTASKS"):
        env.pop(key, None)
    if gpus is not None:
        env["CUDA_VISIBLE_DEVICES"] = gpus
    # torchrun's own default, without its banner (the engine sets torch's threads itself).
    env.setdefault("OMP_NUM_THREADS", "1")
    cmd = [
        sys.executable,
        "-m",
        "lsat.engine.launch",
        f"--nproc_per_node={nproc}",
        "--master_addr=127.0.0.1",
        f"--master_port={free_port()}",
        *argv,
    ]
    # Ranks that stop on a signal write their exit status here (torchrun itself reports 1).
    fd, marker = tempfile.mkstemp(prefix="lsat-interrupt-")
    os.close(fd)
    env[INTERRUPT_MARKER_ENV] = marker
    proc = subprocess.Popen(cmd, env=env)

    received: list[int] = []

    def forward(signum: int, _frame: Any) -> None:
        received.append(signum)
        proc.send_signal(signal.SIGTERM)

    old = {s: signal.signal(s, forward) for s in (signal.SIGTERM, signal.SIGUSR1)}
    try:
        status = proc.wait()
        if received:
            return 128 + received[0]
        text = Path(marker).read_text().strip()
        return int(text) if status and text else status
    finally:
        os.unlink(marker)
        for s, h in old.items():
            signal.signal(s, h)


def mark_interrupted(exit_code: int) -> None:
    """Tell :func:`relaunch` (if it started us) that the run stopped on a signal."""
    marker = os.environ.get(INTERRUPT_MARKER_ENV)
    if marker and env_ranks()[0] == 0:
        Path(marker).write_text(str(exit_code))
