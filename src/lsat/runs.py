"""Seeds and sweeps: the training runs one dataset and split expand into.

A result is reported with its spread, so one configuration is trained with several seeds
(``train.seeds: [1, 2, 3]``) and configurations are compared over a listed sweep
(``sweep: {model.name: [trar, mcan, lsat]}``, keys relative to the dataset). Every
combination is one run with its own folder under the split's folder:

- one seed and no sweep: ``results/{dataset}/{split}/`` (the run id is empty, as before);
- several seeds: ``.../{split}/seed{N}/``;
- a sweep: ``.../{split}/{key}={value}[,{key}={value}]/`` plus ``seed{N}/`` with several seeds.

The workflow makes one job per run (so a cluster runs them side by side); ``lsat train
--run ID`` and ``lsat predict --run ID`` apply a run's settings; ``lsat summary`` reports
mean ± std over the seeds of each configuration.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from lsat.errors import LsatError
from lsat.settings import TrainSettings

# Sweeping these would collide with the seed list.
RESERVED_SWEEP_KEYS = ("train.seed", "train.seeds")


@dataclass(frozen=True)
class Run:
    """One training run of a split: its folder id, configuration label and seed."""

    id: str
    variant: str
    seed: int
    overrides: dict[str, Any] = field(default_factory=dict)


def _label(value: Any) -> str:
    text = str(value).lower() if isinstance(value, bool) else str(value)
    if not text or any(c in text for c in "/\\ \t\n,=") or text.startswith("."):
        raise LsatError(
            f"sweep value {value!r} cannot name a run folder (no '/', spaces, ',' or '=')"
        )
    return text


def variants(sweep: dict[str, list[Any]]) -> list[tuple[str, dict[str, Any]]]:
    """(label, overrides) of every combination of the sweep, in the order given."""
    for key in sweep:
        if key in RESERVED_SWEEP_KEYS:
            raise LsatError(f"sweep key {key!r}: list the seeds in train.seeds instead")
    if not sweep:
        return [("", {})]
    keys = list(sweep)
    out = []
    for combo in itertools.product(*(sweep[k] for k in keys)):
        label = ",".join(f"{k}={_label(v)}" for k, v in zip(keys, combo, strict=True))
        out.append((label, dict(zip(keys, combo, strict=True))))
    return out


def seeds_of(train: TrainSettings) -> list[int]:
    """``train.seeds``, or the single ``train.seed`` when it is not set."""
    seeds = train.seeds
    if not seeds:
        return [int(train.seed)]
    if len(set(seeds)) != len(seeds):
        raise LsatError(f"train.seeds {list(seeds)} lists a seed twice")
    return [int(s) for s in seeds]


def runs(train: TrainSettings, sweep: dict[str, list[Any]] | None) -> list[Run]:
    """Every run of one split, the first being the one whose model writes the test result."""
    seeds = seeds_of(train)
    out = []
    for label, overrides in variants(sweep or {}):
        for seed in seeds:
            parts = [p for p in (label, f"seed{seed}" if len(seeds) > 1 else "") if p]
            out.append(Run("/".join(parts), label, seed, {**overrides, "train.seed": seed}))
    return out


def find(all_runs: list[Run], run_id: str | None, where: str) -> Run:
    """The run named ``run_id``; without an id, the only run (an error when there are several)."""
    if run_id is None or run_id == "":
        if len(all_runs) == 1 and all_runs[0].id == "":
            return all_runs[0]
        raise LsatError(
            f"{where} defines {len(all_runs)} runs per split (train.seeds / sweep): pass "
            f"--run with one of {', '.join(r.id for r in all_runs)}"
        )
    for run in all_runs:
        if run.id == run_id:
            return run
    known = ", ".join(r.id for r in all_runs if r.id) or "none (one run per split)"
    raise LsatError(f"{where} has no run {run_id!r}: its runs are {known}")
