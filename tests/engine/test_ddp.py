"""Two gloo processes with the same global batch reach the weights of one process."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from engine_fakes import FakeQA, TinyNet, spec

from lsat.engine.distributed import DistEnv, env_ranks, free_port
from lsat.engine.slurmenv import PORT_BASE, PORT_SPAN, expand_nodelist, rendezvous
from lsat.engine.trainer import seed_everything, train
from lsat.errors import LsatError

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


def test_slurm_nodelist_and_rendezvous():
    assert expand_nodelist("node[1-3,5]") == ["node1", "node2", "node3", "node5"]
    assert expand_nodelist("gpu[08-10],login") == ["gpu08", "gpu09", "gpu10", "login"]
    assert expand_nodelist("a[1-2]-ib[0-1]") == ["a1-ib0", "a1-ib1", "a2-ib0", "a2-ib1"]
    assert expand_nodelist("127.0.0.[1-2]") == ["127.0.0.1", "127.0.0.2"]
    with pytest.raises(LsatError, match="unbalanced"):
        expand_nodelist("node[1-2")
    env = {"SLURM_NTASKS": "8", "SLURM_JOB_NODELIST": "gpu[03-04]", "SLURM_JOB_ID": "123456"}
    assert rendezvous(env) == ("gpu03", 20000 + 123456 % 20000)
    assert rendezvous({**env, "MASTER_ADDR": "h", "MASTER_PORT": "7"}) == ("h", 7)
    assert rendezvous({}) == ("127.0.0.1", 29500)


def _job_id_with_free_port() -> int:
    for _ in range(100):
        port = free_port()
        if PORT_BASE <= port < PORT_BASE + PORT_SPAN:
            return 1_000_000 + port - PORT_BASE  # rendezvous maps it back onto this port
    pytest.skip("no free port in the range the Slurm rendezvous uses")


@pytest.mark.timeout(180)
def test_two_node_slurm_environment_matches_one_process(tmp_path):
    """Two processes, each the only task of its 'node' of a two-node Slurm job: ranks and
    the rendezvous come from SLURM_* alone (no MASTER_ADDR, RANK or torchrun)."""
    seed_everything(1, True)
    model = TinyNet(dropout=0.0)
    train(model, FakeQA(), spec(tmp_path / "one", grad_accu_steps=2, max_epoch=2), DistEnv())
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SLURM_", "MASTER_", "RANK", "WORLD_SIZE", "LOCAL_RANK"))
    }
    job = {"SLURM_NTASKS": "2", "SLURM_JOB_NODELIST": "127.0.0.[1-2]", "SLURM_NNODES": "2"}
    job["SLURM_JOB_ID"] = str(_job_id_with_free_port())
    # Occupy the old default 127.0.0.1:29500, so only the job-derived port can work.
    blocker = socket.socket()
    try:
        blocker.bind(("127.0.0.1", 29500))
        blocker.listen()
    except OSError:  # already taken by someone else: the default is blocked either way
        blocker.close()
        blocker = None
    procs = [
        subprocess.Popen(
            [sys.executable, str(HERE / "ddp_fake_run.py"), str(tmp_path / "two")],
            env={
                **base,
                **job,
                "SLURM_PROCID": str(r),
                "SLURM_NODEID": str(r),
                "SLURM_LOCALID": "0",
            },
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for r in range(2)
    ]
    try:
        outs = [p.communicate(timeout=170)[0] for p in procs]
    finally:
        if blocker:
            blocker.close()
    assert [p.returncode for p in procs] == [0, 0], outs
    two = torch.load(tmp_path / "two" / "weights.pt")
    for k, v in model.state_dict().items():
        torch.testing.assert_close(two[k], v, atol=1e-5, rtol=0)
    metrics = json.loads((tmp_path / "two" / "metrics.json").read_text())
    assert metrics["world_size"] == 2
