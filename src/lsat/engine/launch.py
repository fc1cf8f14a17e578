"""torchrun for ``lsat train --nproc N``, without torchrun's traceback when a rank fails.

A rank that stops on bad input has already printed its one clear ``lsat train: error: ...``
line. torchrun then raises ``ChildFailedError``, whose Python traceback and summary table
bury that line under forty others. Here the failure is one more line, and the exit status is
the failed rank's (2 for bad input, as without DDP), else torchrun's 1.
"""

from __future__ import annotations

import logging
import sys

from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
from torch.distributed.run import main as torchrun


def main(argv: list[str] | None = None) -> int:
    """Run torchrun with ``argv`` (its own flags, then the rank's command line)."""
    # Its per-process log lines ("closing signal SIGTERM", "failed (exitcode: 2)") say again
    # what the one line below says.
    logging.getLogger("torch.distributed.elastic.multiprocessing.api").setLevel(logging.CRITICAL)
    try:
        torchrun(sys.argv[1:] if argv is None else argv)
    except ChildFailedError as failed:
        ranks = ", ".join(
            f"rank {rank} exit status {f.exitcode}" for rank, f in failed.failures.items()
        )
        print(f"lsat: DDP run failed ({ranks}); the ranks' messages are above", file=sys.stderr)
        statuses = [f.exitcode for f in failed.failures.values() if f.exitcode > 0]
        return statuses[0] if statuses else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
