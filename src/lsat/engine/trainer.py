"""The training loop: flat and explicit, with DDP, AMP, accumulation and exact resume.

One call of :func:`train` runs (or resumes) a whole run. The loop follows openvqa: Adam with
the epoch-wise schedule of :mod:`lsat.engine.schedule`, the summed loss of docs/sources.md
divided by the accumulation steps (openvqa divides only a mean loss; Adam hides the scale),
one optimizer step per full batch, ``model.update_tau`` at the start of each epoch and a
checkpoint after every epoch.

Distributed runs keep the global batch: each of W ranks computes its B/W slice, and as DDP
averages gradients over ranks, the loss is multiplied by W so the gradient is the same sum
a single process computes. The loss is accumulated on the device and read once per epoch
(no host synchronisation in a step). SIGTERM/SIGUSR1 set a flag (:mod:`lsat.engine.stopflag`)
checked after each step by a single process, and every :data:`STOP_CHECK_STEPS` steps by
all ranks together (a CPU gloo all-reduce, too costly for every step); the run then writes
an interrupt checkpoint of that step and raises :class:`TrainingInterrupted`, which the
command turns into exit status 128 + signal (143 for SIGTERM).

On a GPU the model is compiled first and wrapped in DDP after, so ``no_sync`` still skips
the all-reduce of the accumulation micro-steps; DDP does not re-broadcast buffers (the
models' buffers are constant masks). As in nanoGPT, ``raw_model`` is the network itself
(its weights, ``update_tau``, validation) and ``model`` what a step calls (compiled and/or
DDP-wrapped, or the same module).

The run's whole state is one pair, :meth:`Trainer.state_dict` / :meth:`Trainer.load_state_dict`
(as torchtitan's trainer), the only place a checkpoint's keys are spelled; which checkpoint
to load is decided before, by :mod:`lsat.engine.resume`. Test hooks run after each step
from outside the loop (:mod:`lsat.engine.hooks`).
"""

from __future__ import annotations

import contextlib
import inspect
import math
import os
import random
import signal
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from lsat import progress, provenance
from lsat.data.contract import QAData
from lsat.engine import checkpoint as ckpt_io
from lsat.engine.batches import BatchSource, train_steps
from lsat.engine.device import autocast_dtype, configure_device, resolve_train
from lsat.engine.distributed import DistEnv, any_flag, barrier
from lsat.engine.hooks import StepHook
from lsat.engine.layout import RunLayout, link_atomic
from lsat.engine.report import epoch_line, write_curves, write_reports
from lsat.engine.resume import ResumeMode, resumable_state
from lsat.engine.schedule import lr_at
from lsat.engine.stopflag import StopFlag, ValidationStopped
from lsat.errors import LsatError
from lsat.models.official import load_official_checkpoint, strip_module_prefix
from lsat.settings import TrainSettings

# Ranks agree on a stop request every this many steps (a single process checks every step).
STOP_CHECK_STEPS = 16


# Steps between finiteness checks of the accumulated loss: each check reads one number from
# the device (and, in DDP, all-reduces a flag), so on a GPU or in DDP it is done every this
# many steps, not every step (a NaN stays NaN in the running sum, so none is missed). A
# single CPU process checks every step: reading the number costs nothing there.
FINITE_CHECK_STEPS_CUDA = 50


class NonFiniteLoss(LsatError):
    """The loss became NaN or infinite: training stopped without writing that state."""


class TrainingInterrupted(Exception):
    """Raised after the interrupt checkpoint is written; carries the exit status."""

    def __init__(self, signum: int):
        super().__init__(f"interrupted by signal {signum}")
        self.exit_code = 128 + signum


@dataclass
class TrainSpec:
    """Everything the loop needs besides the model and the data."""

    train: TrainSettings
    layout: RunLayout
    settings: dict[str, Any]
    model_meta: dict[str, Any] = field(default_factory=dict)
    header: list[str] = field(default_factory=list)
    # (checkpoint, epoch) a fine-tune continues from when it has no checkpoint of its own.
    start_from: tuple[Path, int] | None = None
    # Weights (``model.checkpoint``: an official file or a model.pt) a run that continues no
    # checkpoint of its own starts from; loaded after the resume policy has decided so.
    init_checkpoint: str | Path | None = None
    provenance: dict[str, Any] | None = None


def seed_everything(seed: int, deterministic: bool) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False


def loss_fn(kind: str, logits: torch.Tensor, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Summed BCE on VQA soft scores (scatter_add_ of target_ix/target_score) or summed CE."""
    logits = logits.float()
    if kind == "bce":
        soft = torch.zeros_like(logits).scatter_add_(1, batch["target_ix"], batch["target_score"])
        return F.binary_cross_entropy_with_logits(logits, soft, reduction="sum")
    if kind == "ce":
        return F.cross_entropy(logits, batch["target_ix"][:, 0], reduction="sum")
    raise LsatError(f"train.loss {kind!r}: expected bce or ce")


def _autocast(amp: str, device: torch.device) -> contextlib.AbstractContextManager[Any]:
    """bf16 autocast on CUDA and on CPUs (faster where they have AMX or AVX-512 bf16:
    benchmarks/RESULTS.md, "Training throughput, paper configuration (Sapphire Rapids)");
    fp16 only on CUDA, where the grad scaler runs."""
    dtype = autocast_dtype(amp, device)
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)


def wrap_model(model: nn.Module, cfg: TrainSettings, env: DistEnv) -> tuple[nn.Module, Any]:
    """(the module a step calls, its DDP wrapper or None): compiled first, DDP outside.

    DDP(compile(model)) keeps ``no_sync`` working (a compiled DDP is no DDP instance to the
    loop, and every accumulation micro-step would all-reduce); ``broadcast_buffers`` is off
    because the models' buffers never change.
    """
    net: nn.Module = model
    if cfg.compile:
        mode = None if cfg.compile == "default" else cfg.compile
        torch._dynamo.config.allow_rnn = True  # the question LSTM, in one graph
        net = torch.compile(net, mode=mode)  # type: ignore[assignment]
    if not env.distributed:
        return net, None
    ids = [env.device.index] if env.device.type == "cuda" else None
    ddp = nn.parallel.DistributedDataParallel(net, device_ids=ids, **_no_buffer_sync())
    return ddp, ddp


def _no_buffer_sync() -> dict[str, Any]:
    """DDP's switch for not syncing buffers each forward, in this torch's spelling.

    torch ≥ 2.13 calls it ``forward_sync_buffers`` (``broadcast_buffers`` is deprecated);
    the GPU machines' torch 2.11 knows only ``broadcast_buffers``.
    """
    params = inspect.signature(nn.parallel.DistributedDataParallel.__init__).parameters
    if "forward_sync_buffers" in params:
        return {"forward_sync_buffers": False}
    return {"broadcast_buffers": False}


def _gather_rng(env: DistEnv) -> list[dict[str, Any]]:
    state = ckpt_io.rng_state()
    if not env.distributed:
        return [state]
    out: list[Any] = [None] * env.world
    dist.all_gather_object(out, state, group=env.control_group)
    return out


class Trainer:
    """One run: model, optimizer, data and the history, on one rank."""

    def __init__(
        self,
        model: nn.Module,
        train_set: QAData,
        spec: TrainSpec,
        env: DistEnv,
        validate: Callable[[nn.Module], dict[str, Any]] | None = None,
        hooks: Iterable[StepHook] = (),
    ):
        self.spec, self.env = spec, env
        self.cfg = resolve_train(spec.train, env.device)
        configure_device(self.cfg, env.device)
        self.validate = validate
        self.hooks = list(hooks)
        self.raw_model = model.to(env.device)
        params = [p for p in self.raw_model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.Adam(
            params,
            lr=self.cfg.lr_base,
            betas=self.cfg.opt_betas,
            eps=self.cfg.opt_eps,
            # One fused kernel per step instead of ~10 passes over 50M+ parameters, the same
            # Adam arithmetic (benchmarks/RESULTS.md, "Optimizer step").
            fused=True,
        )
        self.scaler = torch.amp.GradScaler(
            "cuda", enabled=self.cfg.amp == "fp16" and env.device.type == "cuda"
        )
        self.train_set = train_set
        self.source = BatchSource(
            train_set, self.cfg.feature_residency, env.device, self.cfg.num_workers
        )
        self.model, self.ddp = wrap_model(self.raw_model, self.cfg, env)
        self.epoch, self.step = 0, 0
        self.steps_run = 0  # optimizer steps taken by this process (not restored on resume)
        self.tau: float | None = None
        self.history: list[dict[str, Any]] = []
        self.log_lines = list(spec.header)
        self.partial = {"loss": 0.0, "seconds": 0.0}
        self.settings_hash = ckpt_io.settings_hash(spec.settings)
        self.first_start: str | None = None

    # ---- the run's state: the only place a checkpoint's keys are spelled -------------
    def _model_record(self) -> dict[str, Any]:
        """What model.pt and every checkpoint hold: the official openvqa keys
        (``state_dict``, ``lr_base``, ``epoch``) and what rebuilds and describes the network."""
        return {
            "state_dict": self.raw_model.state_dict(),
            "lr_base": self.cfg.lr_base,
            "epoch": self.epoch,
            "settings": self.spec.settings,
            "model_meta": self.spec.model_meta,
            "provenance": self._provenance(),
        }

    def state_dict(self) -> dict[str, Any]:
        """Everything an exact resume needs (collective: every rank gives its random states)."""
        return {
            **self._model_record(),
            "optimizer": self.optimizer.state_dict(),
            "scaler": self.scaler.state_dict(),
            "step": self.step,
            "data_seed": self.cfg.seed,
            "world_size": self.env.world,
            "rng": _gather_rng(self.env),
            "history": self.history,
            "log_lines": self.log_lines,
            "partial": self.partial,
            "settings_hash": self.settings_hash,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from :meth:`state_dict`'s output (a checkpoint of this or an earlier
        version). Written by another number of ranks, the random states are re-seeded."""
        self.raw_model.load_state_dict(state["state_dict"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scaler.load_state_dict(state["scaler"])
        self.epoch, self.step = int(state["epoch"]), int(state["step"])
        self.history, self.log_lines = list(state["history"]), list(state["log_lines"])
        self.partial = dict(state["partial"])
        earlier = state.get("provenance") or {}
        self.first_start = earlier.get("first_start") or earlier.get("start")
        rngs = state["rng"]
        if len(rngs) == self.env.world:
            ckpt_io.set_rng_state(rngs[self.env.rank])
            return
        self.log_lines.append(
            f"note: checkpoint has {len(rngs)} rank(s), this run {self.env.world}: "
            "random states re-seeded (data order is unaffected)"
        )
        seed_everything(self.cfg.seed + 7919 * self.epoch + self.env.rank, False)

    def _provenance(self) -> dict[str, Any] | None:
        """This run's provenance with the end time now; resumed runs keep the first start."""
        if self.spec.provenance is None:
            return None
        prov = provenance.finish(self.spec.provenance)
        if self.first_start:
            prov["first_start"] = self.first_start
        return prov

    def save(self, epoch_file: bool) -> None:
        payload = self.state_dict()  # collective: every rank takes part
        if self.env.is_main:
            layout = self.spec.layout
            if epoch_file:
                ckpt_io.save(layout.checkpoint(self.epoch), payload)
                link_atomic(layout.checkpoint(self.epoch), layout.last)
            else:
                ckpt_io.save(layout.last, payload)
        barrier(self.env)

    def load_weights(self, path: str | Path) -> None:
        """Start from the weights of ``path`` (an official checkpoint or a model.pt; strict,
        its vocabulary and answers checked against this run's, when recorded)."""
        meta = self.spec.model_meta
        load_official_checkpoint(
            path, self.raw_model, vocab_path=meta["vocab"], answers_path=meta["answers"]
        )

    def start_from(self, path: Path, epoch: int) -> None:
        """Continue another run's epoch-``epoch`` checkpoint as openvqa's resume does: its
        weights (``module.`` prefix or not) and Adam state, the epoch counter from there (so
        the schedule gives the source's learning rate and keeps its decay points); the
        history, step and random states start anew for the new data."""
        ck = ckpt_io.load(path)
        if int(ck.get("epoch", -1)) != epoch:
            raise LsatError(f"fine-tune source {path} is epoch {ck.get('epoch')}, not {epoch}")
        self.raw_model.load_state_dict(strip_module_prefix(dict(ck["state_dict"])))
        self.optimizer.load_state_dict(ck["optimizer"])
        self.epoch, self.step = epoch, 0
        self.log_lines.append(f"fine-tune: continued {path} at epoch {epoch}")

    # ---- the loop ----------------------------------------------------------------------
    def run(self) -> list[dict[str, Any]]:
        """Train from the current epoch and step to ``max_epoch``; return the history."""
        self._say(*self.log_lines)  # the header (and, resumed, the history so far)
        with StopFlag() as stop:
            while self.epoch < int(self.cfg.max_epoch):
                self._run_epoch(stop)
        return self.history

    def _run_epoch(self, stop: StopFlag) -> None:
        """The epoch's steps from ``self.step`` on, then its validation, record and checkpoint."""
        lr = self._start_epoch()
        c, env = self.cfg, self.env
        steps = train_steps(
            len(self.train_set),
            batch_size=c.batch_size,
            world=env.world,
            rank=env.rank,
            seed=c.seed,
            epoch=self.epoch,
        )
        loss_sum = torch.zeros((), device=env.device)
        t0 = time.perf_counter()
        every = 1 if env.device.type == "cpu" and not env.distributed else FINITE_CHECK_STEPS_CUDA
        desc = f"epoch {self.epoch + 1}/{c.max_epoch}"
        bar = progress.bar(
            total=len(steps), initial=self.step, desc=desc, enabled=env.is_main, leave=False
        )
        with bar:
            for batch in self.source.batches(steps[self.step :]):
                loss_sum += self._train_step(batch)
                self.step += 1
                self.steps_run += 1
                if self.steps_run % every == 0:
                    self._check_finite(loss_sum, every)
                bar.update(1)
                for hook in self.hooks:
                    hook(self)
                if self._should_stop(stop.signum, len(steps)) and any_flag(
                    env, stop.signum is not None
                ):
                    total = self.partial["loss"] + self._reduced(loss_sum)
                    self._interrupt(total, time.perf_counter() - t0, stop.signum)
        self._end_epoch(loss_sum, time.perf_counter() - t0, lr, len(steps), stop)

    def _should_stop(self, signum: int | None, steps: int) -> bool:
        """Whether to ask the ranks now: every step alone, every STOP_CHECK_STEPS in DDP."""
        if not self.env.distributed:
            return signum is not None
        return self.step % STOP_CHECK_STEPS == 0 or self.step == steps

    def _start_epoch(self) -> float:
        c = self.cfg
        lr = lr_at(
            self.epoch,
            base=c.lr_base,
            warmup=c.warmup_epochs,
            decay_list=c.lr_decay_list,
            decay_rate=c.lr_decay_rate,
        )
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.tau = None
        update_tau = getattr(self.raw_model, "update_tau", None)  # our TRAR/LSAT/MCAN nets
        if update_tau is not None:
            self.tau = update_tau(self.epoch, c.max_epoch, c.warmup_epochs)
        self.raw_model.train()
        return lr

    def _train_step(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        accu = int(self.cfg.grad_accu_steps)
        scale = self.env.world / accu
        n = batch["ques_ix"].shape[0]
        bounds = np.linspace(0, n, accu + 1).astype(int)
        total = torch.zeros((), device=self.env.device)
        for j in range(accu):
            sub = {k: v[bounds[j] : bounds[j + 1]] for k, v in batch.items()}
            sync = j == accu - 1 or self.ddp is None
            ctx = contextlib.nullcontext() if sync else self.ddp.no_sync()
            with ctx:
                with _autocast(self.cfg.amp, self.env.device):
                    logits = self.model(sub["img_feat"], sub["ques_ix"])
                loss = loss_fn(self.cfg.loss, logits, sub)
                self.scaler.scale(loss * scale).backward()
            total += loss.detach()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)
        return total

    def _check_finite(self, loss_sum: torch.Tensor, within: int) -> None:
        """Stop (every rank alike) on a NaN/inf loss; the last checkpoint stays the last
        good one, and neither a checkpoint nor model.pt is written from this state."""
        bad = not bool(torch.isfinite(loss_sum).item())
        if not any_flag(self.env, bad):
            return
        self._stop_non_finite(f"within the last {within} step(s) before step {self.step}")

    def _stop_non_finite(self, where: str) -> None:
        last = self.spec.layout.last
        kept = f"the last good checkpoint is {last}" if last.is_file() else "no checkpoint"
        msg = (
            f"training stopped: the loss is NaN or infinite at epoch {self.epoch + 1}, {where}; "
            f"{kept}, no model written. Check the features and inputs for NaN/inf, or lower "
            "train.lr_base / use train.amp: none"
        )
        self.log_lines.append(msg)
        if self.env.is_main:
            write_reports(self.spec.layout, self.summary(), self.log_lines)
        raise NonFiniteLoss(msg)

    def _reduced(self, loss_sum: torch.Tensor) -> float:
        if self.env.distributed:
            dist.all_reduce(loss_sum)
        value = float(loss_sum.item())
        if not math.isfinite(value):
            self._stop_non_finite(f"step {self.step}")
        return value

    def _interrupt(self, total: float, seconds: float, signum: int | None) -> None:
        """Write ``last`` for this step (after the epoch's last step when validation was
        stopped: the resumed run validates again) and raise :class:`TrainingInterrupted`."""
        self.partial = {"loss": total, "seconds": self.partial["seconds"] + seconds}
        self.log_lines.append(
            f"interrupted by signal {signum or signal.SIGTERM} at epoch {self.epoch + 1}, "
            f"step {self.step}: checkpoint {self.spec.layout.last}"
        )
        self.save(epoch_file=False)
        if self.env.is_main:
            write_reports(self.spec.layout, self.summary(), self.log_lines)
        raise TrainingInterrupted(signum or signal.SIGTERM)

    def _validate(self, stop: StopFlag) -> tuple[Any, bool]:
        """(val metrics or None, whether a signal stopped it), agreed by every rank."""
        if self.validate is None or not self.cfg.eval_every_epoch:
            return None, False
        val, stopped = None, stop.signum is not None
        if self.env.is_main and not stopped:
            try:
                with stop.raising():
                    val = self.validate(self.raw_model)
            except ValidationStopped:
                stopped = True
        barrier(self.env)
        return val, any_flag(self.env, stopped)

    def _end_epoch(
        self, loss_sum: torch.Tensor, seconds: float, lr: float, steps: int, stop: StopFlag
    ) -> None:
        seen = steps * self.cfg.batch_size
        total = self.partial["loss"] + self._reduced(loss_sum)
        val, stopped = self._validate(stop)
        if stopped:
            self._interrupt(total, seconds, stop.signum)
        seconds += self.partial["seconds"]
        rec: dict[str, Any] = {
            "epoch": self.epoch + 1,
            "lr": lr,
            "loss": total / seen,
            "seconds": seconds,
            "samples_per_s": seen / max(seconds, 1e-9),
            "tau": None if self.tau is None else float(self.tau),
            "val": val,
        }
        self.history.append(rec)
        self.log_lines.append(epoch_line(rec))
        self._say(self.log_lines[-1])
        self.epoch, self.step = self.epoch + 1, 0
        self.partial = {"loss": 0.0, "seconds": 0.0}
        self.save(epoch_file=True)
        if self.env.is_main:
            write_reports(self.spec.layout, self.summary(), self.log_lines)

    def _say(self, *lines: str) -> None:
        """Print log lines as they happen (rank 0): the Slurm/Snakemake log shows progress."""
        if self.env.is_main and lines:
            print("\n".join(lines), flush=True)

    def summary(self) -> dict[str, Any]:
        return {
            "settings": self.spec.settings,
            "world_size": self.env.world,
            "epochs": self.history,
            "completed_epochs": self.epoch,
            "provenance": self._provenance(),
        }

    def finish(self) -> None:
        """Write model.pt and the curves (rank 0)."""
        if not self.env.is_main:
            return
        last_val = next((r["val"] for r in reversed(self.history) if r.get("val")), None)
        ckpt_io.save(self.spec.layout.final_model, {**self._model_record(), "val": last_val})
        write_curves(self.spec.layout.curves, self.history)
        write_reports(self.spec.layout, self.summary(), self.log_lines)


def train(
    model: nn.Module,
    train_set: QAData,
    spec: TrainSpec,
    env: DistEnv,
    *,
    validate: Callable[[nn.Module], dict[str, Any]] | None = None,
    resume: ResumeMode = ResumeMode.AUTO,
    hooks: Iterable[StepHook] = (),
) -> Trainer:
    """Train, continuing the checkpoint :func:`lsat.engine.resume.resumable_state` picks
    under ``resume``; with none, a fine-tune starts from its source epoch and a run with an
    ``init_checkpoint`` from those weights (also after a checkpoint of other settings was
    moved aside). Return the run."""
    trainer = Trainer(model, train_set, spec, env, validate, hooks)
    state, notes = resumable_state(spec.layout, spec.settings, spec.model_meta, env, resume)
    if state is not None:
        trainer.load_state_dict(state)
    trainer.log_lines += notes
    if state is None and spec.start_from is not None:
        trainer.start_from(*spec.start_from)
    elif state is None and spec.init_checkpoint:
        trainer.load_weights(spec.init_checkpoint)
    trainer.run()
    trainer.finish()
    return trainer
