"""Where the ranks of a multi-node Slurm job meet: the first host of the job, a port of the job.

Under ``srun`` every task knows its rank (``SLURM_PROCID``) and the number of tasks
(``SLURM_NTASKS``), but not where rank 0 listens: defaulting to localhost makes the ranks
of a two-node job wait for each other forever. All tasks of a job see the same
``SLURM_JOB_NODELIST`` and ``SLURM_JOB_ID``, so each derives the same address (the list's
first host, where Slurm starts task 0) and port (from the job id, so two jobs sharing a
node do not collide) without talking to the others. ``MASTER_ADDR``/``MASTER_PORT`` set by
the user or torchrun win.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from lsat.errors import LsatError

PORT_BASE = 20000
PORT_SPAN = 20000
DEFAULT = ("127.0.0.1", 29500)


def _split_top(text: str) -> list[str]:
    """Split at commas outside brackets: ``a[1-2,4],b`` → ``['a[1-2,4]', 'b']``."""
    parts, depth, cur = [], 0, ""
    for ch in text:
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
            continue
        depth += (ch == "[") - (ch == "]")
        if depth < 0:
            raise LsatError(f"SLURM_JOB_NODELIST {text!r}: unbalanced ']'")
        cur += ch
    if depth:
        raise LsatError(f"SLURM_JOB_NODELIST {text!r}: unbalanced '['")
    return [p for p in [*parts, cur] if p]


def _expand_one(item: str) -> list[str]:
    match = re.fullmatch(r"([^\[\]]*)\[([^\[\]]+)\](.*)", item)
    if not match:
        if "[" in item or "]" in item:
            raise LsatError(f"SLURM_JOB_NODELIST entry {item!r}: not a host or host[ranges] form")
        return [item]
    prefix, ranges, rest = match.groups()
    tails = _expand_one(rest) if rest else [""]
    hosts = []
    for part in ranges.split(","):
        lo, _, hi = part.partition("-")
        if not lo.isdigit() or (hi and not hi.isdigit()):
            raise LsatError(f"SLURM_JOB_NODELIST entry {item!r}: bad range {part!r}")
        width = len(lo)  # node[01-10]: zero padding is kept
        for n in range(int(lo), int(hi or lo) + 1):
            hosts += [f"{prefix}{n:0{width}d}{t}" for t in tails]
    return hosts


def expand_nodelist(text: str) -> list[str]:
    """Slurm's compressed host list as ``scontrol show hostnames`` prints it:
    ``node[1-3,5],gpu[01-02]`` → node1 node2 node3 node5 gpu01 gpu02."""
    return [h for item in _split_top(text.strip()) for h in _expand_one(item)]


def rendezvous(environ: Mapping[str, str]) -> tuple[str, int]:
    """(MASTER_ADDR, MASTER_PORT) for this process: the environment's, else the Slurm
    job's first host and a port derived from the job id, else 127.0.0.1:29500."""
    addr, port = environ.get("MASTER_ADDR"), environ.get("MASTER_PORT")
    nodelist = environ.get("SLURM_JOB_NODELIST") or environ.get("SLURM_NODELIST")
    if not addr and nodelist and int(environ.get("SLURM_NTASKS", "1")) > 1:
        addr = expand_nodelist(nodelist)[0]
    if not port and environ.get("SLURM_JOB_ID", "").isdigit():
        port = str(PORT_BASE + int(environ["SLURM_JOB_ID"]) % PORT_SPAN)
    return addr or DEFAULT[0], int(port or DEFAULT[1])
