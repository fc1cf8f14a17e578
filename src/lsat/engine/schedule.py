"""The paper's learning-rate schedule, as a pure function of the 0-based epoch.

openvqa warms up over the first ``warmup`` epochs at 1/(W+1), 2/(W+1), ... of the base rate
(¼, ½, ¾ for W = 3), then uses the base rate and multiplies it by ``decay_rate`` at every
epoch listed in ``decay_list`` (cumulatively). Being a function of the epoch alone, the
schedule needs no state in a checkpoint beyond the epoch number.
"""

from __future__ import annotations

from collections.abc import Sequence


def lr_at(
    epoch: int,
    *,
    base: float,
    warmup: int,
    decay_list: Sequence[int],
    decay_rate: float,
) -> float:
    """Learning rate of 0-based ``epoch`` (docs/sources.md)."""
    if epoch < warmup:
        return base * (epoch + 1) / (warmup + 1)
    decays = sum(1 for d in decay_list if d <= epoch)
    return base * decay_rate**decays
