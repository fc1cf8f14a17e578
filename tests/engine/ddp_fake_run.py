"""Run by torchrun from test_ddp.py: train the fakes in a process group and save the weights."""

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))

from engine_fakes import FakeQA, TinyNet, spec

from lsat.engine import distributed
from lsat.engine.trainer import seed_everything, train

if __name__ == "__main__":
    out = Path(sys.argv[1])
    env = distributed.setup(use_cuda=False)
    seed_everything(1, True)
    model = TinyNet(dropout=0.0)
    train(model, FakeQA(), spec(out, grad_accu_steps=2, max_epoch=2), env)
    if env.is_main:
        torch.save(model.state_dict(), out / "weights.pt")
    distributed.teardown(env)
