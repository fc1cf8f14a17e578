"""What a GPU run changes, pinned on the CPU: defaults, wrap order, stop checks, no host sync.

A host synchronisation shows up in the dispatcher as one of a few ops (``.item()``,
``bool(t)``, ``nonzero``...): on a CUDA tensor each waits for the device. The step and the
batch source are run under a dispatch mode that records them; on the CPU they cost nothing,
but the same code on a GPU would stall there.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.distributed as dist
from engine_fakes import FakeQA, TinyNet, spec, train_cfg
from torch.utils._python_dispatch import TorchDispatchMode

from lsat.engine.batches import BatchSource
from lsat.engine.cpu import configure_cpu
from lsat.engine.device import autocast_dtype, configure_device, resolve_train
from lsat.engine.distributed import DistEnv
from lsat.engine.predict import predict_indices
from lsat.engine.trainer import STOP_CHECK_STEPS, Trainer, wrap_model

SYNC_OPS = {"_local_scalar_dense", "item", "is_nonzero", "nonzero", "equal", "masked_select"}


class SyncCounter(TorchDispatchMode):
    """Records every dispatched op that reads a tensor's value back to the host."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        if func.overloadpacket.__name__ in SYNC_OPS:
            self.seen.append(func.overloadpacket.__name__)
        return func(*args, **(kwargs or {}))


CPU, GPU = torch.device("cpu"), torch.device("cuda", 0)


def _switches(train) -> dict:  # type: ignore[no-untyped-def]
    return {"amp": train.amp, "deterministic": train.deterministic, "tf32": train.tf32}


def test_defaults_resolve_per_device() -> None:
    auto = train_cfg(amp="auto", deterministic=None, tf32=None)
    assert _switches(resolve_train(auto, CPU)) == {
        "amp": "none",
        "deterministic": True,
        "tf32": False,
    }
    assert _switches(resolve_train(auto, GPU)) == {
        "amp": "bf16",
        "deterministic": False,
        "tf32": True,
    }
    asked = train_cfg(amp="none", deterministic=True, tf32=None)
    assert _switches(resolve_train(asked, GPU)) == {
        "amp": "none",
        "deterministic": True,
        "tf32": False,
    }
    assert resolve_train(resolve_train(auto, GPU), GPU) == resolve_train(auto, GPU)
    assert autocast_dtype("bf16", GPU) is torch.bfloat16
    assert autocast_dtype("fp16", CPU) is None and autocast_dtype("none", GPU) is None


def test_gpu_switches_follow_the_resolved_settings() -> None:
    saved = (
        torch.backends.cuda.matmul.allow_tf32,
        torch.backends.cudnn.allow_tf32,
        torch.backends.cudnn.benchmark,
        torch.get_float32_matmul_precision(),
    )
    try:
        configure_device(resolve_train(train_cfg(amp="auto", deterministic=None), GPU), GPU)
        assert torch.backends.cuda.matmul.allow_tf32 and torch.backends.cudnn.benchmark
        assert torch.get_float32_matmul_precision() == "high"
        configure_device(resolve_train(train_cfg(amp="auto", deterministic=True), GPU), GPU)
        assert not torch.backends.cuda.matmul.allow_tf32 and not torch.backends.cudnn.benchmark
        torch.backends.cudnn.benchmark = True
        configure_device(
            resolve_train(train_cfg(amp="auto", deterministic=None), CPU), CPU
        )  # no effect on a CPU run
        assert torch.backends.cudnn.benchmark
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved[:2]
        torch.backends.cudnn.benchmark = saved[2]
        torch.set_float32_matmul_precision(saved[3])


def test_cpu_threads_apply_to_cpu_runs_only() -> None:
    before = torch.get_num_threads()
    try:
        configure_cpu(before + 1, GPU)
        assert torch.get_num_threads() == before
        configure_cpu(1, CPU)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_train_step_and_batches_read_nothing_back(tmp_path) -> None:  # type: ignore[no-untyped-def]
    trainer = Trainer(TinyNet(), FakeQA(), spec(tmp_path, grad_accu_steps=2), DistEnv())
    index_batches = [np.arange(s, s + 16) for s in range(0, 64, 16)]
    with SyncCounter() as counter:
        total = torch.zeros(())
        for batch in trainer.source.batches(index_batches):
            total += trainer._train_step(batch)
    assert counter.seen == []
    assert torch.isfinite(total)
    # The counter does see a read-back: the loop's once-per-epoch loss.
    with SyncCounter() as counter:
        trainer._reduced(total)
    assert counter.seen == ["_local_scalar_dense"]


def test_batches_copy_the_indices_once_per_call(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    source = BatchSource(FakeQA(), "ram", CPU)
    calls: list[int] = []
    real = torch.from_numpy
    monkeypatch.setattr(torch, "from_numpy", lambda a: calls.append(a.size) or real(a))
    batches = list(source.batches([np.arange(0, 8), np.arange(8, 16), np.array([3, 1])]))
    assert calls == [18]  # one flat array for all three steps
    ref = FakeQA().read_batch(np.array([3, 1]))
    assert torch.equal(batches[2]["img_feat"], torch.from_numpy(ref["img_feat"]).float())
    assert batches[2]["img_feat"].dtype == torch.float32


def test_stop_requests_are_agreed_every_few_steps_in_ddp(tmp_path) -> None:  # type: ignore[no-untyped-def]
    trainer = Trainer(TinyNet(), FakeQA(), spec(tmp_path), DistEnv())
    assert trainer._should_stop(15, steps=100) and not trainer._should_stop(None, steps=100)
    trainer.env = DistEnv(world=2)
    asked = []
    for step in range(1, 41):
        trainer.step = step
        asked.append(trainer._should_stop(None, steps=40))
    assert [s for s, a in zip(range(1, 41), asked, strict=True) if a] == [
        STOP_CHECK_STEPS,
        2 * STOP_CHECK_STEPS,
        40,
    ]


@pytest.fixture
def one_rank_group(tmp_path):  # type: ignore[no-untyped-def]
    dist.init_process_group("gloo", init_method=f"file://{tmp_path}/pg", rank=0, world_size=1)
    yield
    dist.destroy_process_group()


def test_ddp_wraps_the_compiled_model_without_buffer_broadcast(one_rank_group) -> None:  # type: ignore[no-untyped-def]
    model = TinyNet()
    cfg = train_cfg(compile="default")
    net, ddp = wrap_model(model, cfg, DistEnv(world=2))
    assert net is ddp and isinstance(ddp, torch.nn.parallel.DistributedDataParallel)
    assert isinstance(ddp.module, torch._dynamo.eval_frame.OptimizedModule)
    assert not getattr(ddp, "forward_sync_buffers", ddp.broadcast_buffers)
    with ddp.no_sync():  # what accumulation micro-steps use: available once compiled
        assert not ddp.require_backward_grad_sync
    net, ddp = wrap_model(model, train_cfg(compile=False), DistEnv())
    assert net is model and ddp is None


class ModeProbe(torch.nn.Module):
    """Records whether inference mode and autocast were on, and answers question 0."""

    def __init__(self) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.ones(1))
        self.seen: list[tuple[bool, bool]] = []

    def forward(self, img: torch.Tensor, ques: torch.Tensor) -> torch.Tensor:
        self.seen.append((torch.is_inference_mode_enabled(), torch.is_autocast_enabled("cpu")))
        return torch.zeros(len(ques), 3) + self.w


def test_prediction_runs_under_inference_mode_with_the_resolved_amp_and_a_kept_source() -> None:
    data, probe = FakeQA(n=20), ModeProbe()
    source = BatchSource(data, "ram", CPU)
    bank = source._bank
    out = predict_indices(probe, data, CPU, batch_size=8, source=source, amp="bf16")
    assert out.tolist() == [0] * 20
    assert probe.seen == [(True, True)] * 3
    predict_indices(probe, data, CPU, batch_size=8, source=source, amp="none")
    assert probe.seen[-1] == (True, False)
    assert source._bank is bank  # the same bank: nothing re-uploaded


def test_validation_makes_its_val_source_once(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from lsat.engine import fit

    made: list[str] = []

    class CountingSource(BatchSource):
        def __init__(self, *args, **kw) -> None:  # type: ignore[no-untyped-def]
            made.append(args[1])
            super().__init__(*args, **kw)

    monkeypatch.setattr(fit, "BatchSource", CountingSource)
    monkeypatch.setattr(fit, "_build_data", lambda ds, qsets, residency: FakeQA(n=20))
    monkeypatch.setattr(fit, "val_evaluator", lambda ds: lambda preds: {"n": len(preds)})
    tc = train_cfg(batch_size=8, num_workers=0, amp="none")
    validate = fit._validator(None, tc, "gpu", DistEnv())  # gpu on a CPU: validated from ram
    assert validate(TinyNet()) == {"n": 20}
    assert validate(TinyNet()) == {"n": 20}
    assert made == ["ram"]


def test_cuda_rng_is_saved_for_this_device_and_restored_on_fewer_gpus(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from lsat.engine import checkpoint

    restored: list[tuple[torch.Tensor, int]] = []
    state = torch.arange(4, dtype=torch.uint8)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: True)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 1)
    monkeypatch.setattr(torch.cuda, "get_rng_state", lambda device: state + device)
    monkeypatch.setattr(torch.cuda, "set_rng_state", lambda s, d: restored.append((s, d)))
    saved = checkpoint.rng_state()
    assert torch.equal(saved["cuda"], state + 1)  # one state, not one per visible GPU
    checkpoint.set_rng_state(saved)
    assert torch.equal(restored[-1][0], state + 1) and restored[-1][1] == 1
    # A checkpoint of an earlier version holds every visible GPU's state.
    checkpoint._set_cuda_rng([state, state + 7, state + 9])
    assert torch.equal(restored[-1][0], state + 7)
    restored.clear()
    checkpoint._set_cuda_rng([state])  # device 1 was not among those saved: left alone
    assert restored == []
