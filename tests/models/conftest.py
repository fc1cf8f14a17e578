"""Every model test starts from the same random state, on one CPU thread.

Tiny models gain nothing from intra-op threads, and on a busy 2-core CI machine the
threads fight each other (10× slower), so the model tests pin one thread and restore it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch


@pytest.fixture(autouse=True)
def _seed_and_one_thread() -> Iterator[None]:
    torch.manual_seed(0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
