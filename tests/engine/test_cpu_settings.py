"""configure_cpu: thread count from the config and glibc's allocator kept warm."""

import subprocess
import sys

import pytest
import torch

from lsat.engine.cpu import configure_cpu, retain_freed_memory

# Minor page faults of 5 rounds of allocating and freeing a training step's tensors, after
# 3 rounds that let the heap grow to its high-water mark; in a fresh process per setting
# because the allocator's state (free heap chunks) outlives a mallopt call.
FAULTS = """
import resource, sys, torch
from lsat.engine.cpu import retain_freed_memory
assert retain_freed_memory(sys.argv[1] == "keep")
def rounds(n):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(n):
        step = [torch.ones(k) for k in (16 << 20, 4 << 20, (8 << 20) + 5, 1000)]
        del step
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
rounds(3)
print(rounds(5))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc mallopt")
def test_retained_memory_is_reused_without_page_faults() -> None:
    def faults(mode: str) -> int:
        run = subprocess.run(
            [sys.executable, "-c", FAULTS, mode], capture_output=True, text=True, check=True
        )
        return int(run.stdout.split()[-1])

    kept, default = faults("keep"), faults("default")
    # glibc's default maps and unmaps each large tensor: ~28 k faults a round.
    assert default > 5 * 10_000 and kept < default / 5


def test_configure_cpu_sets_the_thread_count() -> None:
    threads = torch.get_num_threads()
    try:
        configure_cpu(1, torch.device("cpu"))
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(threads)
        retain_freed_memory(False)
