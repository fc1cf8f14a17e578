"""Two gloo processes with the same global batch reach the weights of one process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from engine_fakes import FakeQA, TinyNet, spec

from lsat.engine.distributed import DistEnv, env_ranks, free_port
from lsat.engine.trainer import seed_everything, train

HERE = Path(__file__).parent


def test_env_ranks_from_torchrun_and_slurm():
    assert env_ranks({}) == (0, 1, 0)
    assert env_ranks({"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1"}) == (1, 2, 1)
    slurm = {"SLURM_PROCID": "3", "SLURM_NTASKS": "4", "SLURM_LOCALID": "1"}
    assert env_ranks(slurm) == (3, 4, 1)
    assert env_ranks({"SLURM_PROCID": "0", "SLURM_NTASKS": "1"}) == (0, 1, 0)


@pytest.mark.timeout(180)
def test_two_processes_match_one(tmp_path):
    seed_everything(1, True)
    model = TinyNet(dropout=0.0)
    train(model, FakeQA(), spec(tmp_path / "one", grad_accu_steps=2, max_epoch=2), DistEnv())
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node=2",
        f"--master_port={free_port()}",
        str(HERE / "ddp_fake_run.py"),
        str(tmp_path / "two"),
    ]
    subprocess.run(cmd, check=True, timeout=170, capture_output=True)
    two = torch.load(tmp_path / "two" / "weights.pt")
    for k, v in model.state_dict().items():
        torch.testing.assert_close(two[k], v, atol=1e-5, rtol=0)
    # Adam's moments scale with the gradient: they catch a wrong DDP loss scaling, which
    # the weights alone (Adam is nearly scale-invariant) would hide.
    opt_one = torch.load(tmp_path / "one" / "checkpoints" / "last.pt", weights_only=False)
    opt_two = torch.load(tmp_path / "two" / "checkpoints" / "last.pt", weights_only=False)
    for i, state in opt_one["optimizer"]["state"].items():
        for key in ("exp_avg", "exp_avg_sq"):
            got = opt_two["optimizer"]["state"][i][key]
            torch.testing.assert_close(got, state[key], atol=1e-5, rtol=1e-4)
    # the runs were not trivially identical: training moved the weights
    seed_everything(1, True)
    assert not torch.allclose(TinyNet().out.weight, two["out.weight"])
