"""The numbers behind "beats it beyond seed noise": mean ± std over seeds, and a paired
bootstrap of the accuracy difference of two configurations on the same questions.

The spread over seeds says how much a configuration moves on its own; the paired
comparison scores both configurations on each validation question (VQA: the official
per-question accuracy; CLEVR: exact match), averages each configuration over its seeds,
and resamples the questions (with replacement, a fixed seed) to get a 95 % interval of the
mean difference. An interval that excludes 0 is a difference the question sample supports.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lsat.engine.evaluation import read_predictions, val_scorer
from lsat.errors import LsatError
from lsat.formats import Format, format_of

BOOTSTRAP_SAMPLES = 2000
BOOTSTRAP_SEED = 0


def mean_std(values: list[float]) -> tuple[float, float | None]:
    """Mean and sample standard deviation (ddof 1; None for a single value)."""
    if not values:
        raise LsatError("no values to average")
    mean = sum(values) / len(values)
    if len(values) < 2:
        return mean, None
    var = sum((v - mean) ** 2 for v in values) / (len(values) - 1)
    return mean, math.sqrt(var)


def question_scores(
    fmt: str | Format, raw_dir: str | Path, predictions: str | Path, version: str = "2021"
) -> dict[int, float]:
    """{question id: accuracy in 0..1} of a val predictions file, as the official metric
    (VQA: evaluation ``version``, 2021 or legacy)."""
    preds = read_predictions(predictions)
    return val_scorer(format_of(fmt), raw_dir, version).per_question(preds, str(predictions))


@dataclass
class Paired:
    """B − A in accuracy points over the same questions, with its bootstrap interval."""

    n_questions: int
    difference: float
    low: float
    high: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "n_questions": self.n_questions,
            "difference": round(self.difference, 4),
            "ci95": [round(self.low, 4), round(self.high, 4)],
        }


def _seed_mean(score_sets: list[dict[int, float]], qids: list[int]) -> np.ndarray:
    return np.mean([[s[q] for q in qids] for s in score_sets], axis=0)


def paired_bootstrap(
    a: list[dict[int, float]],
    b: list[dict[int, float]],
    samples: int = BOOTSTRAP_SAMPLES,
    seed: int = BOOTSTRAP_SEED,
) -> Paired:
    """Compare configuration B with A, each given as per-question scores of its seeds."""
    qids = sorted(set.intersection(*(set(s) for s in [*a, *b])))
    if not qids:
        raise LsatError("the two configurations share no validation question to compare on")
    diff = 100.0 * (_seed_mean(b, qids) - _seed_mean(a, qids))
    n = len(diff)
    rng = np.random.default_rng(seed)
    means = np.empty(samples)
    chunk = max(1, min(samples, 4_000_000 // n))
    for start in range(0, samples, chunk):
        stop = min(samples, start + chunk)
        idx = rng.integers(0, n, size=(stop - start, n))
        means[start:stop] = diff[idx].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return Paired(n, float(diff.mean()), float(low), float(high))
