"""The effect of an environment against its reference on one symmetric scale: the log cost ratio.

``c = log(other / reference)`` for a metric where lower is better (times, latencies) and
``log(reference / other)`` where higher is better (rates), so ``c > 0`` always means worse and a
3.85x slowdown is ``c = log 3.85`` on events/s and on latency alike. A margin of m% is the same
distance both ways: ``|c| <= log(1 + m/100)``. Where both sides were measured in the same rounds
the effect is estimated from the per-round log ratios (paired: drift between rounds cancels);
otherwise from the two groups' log values (unpaired, Welch).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Effect:
    """A mean log cost ratio with its standard error and degrees of freedom."""

    mean: float
    se: float
    df: float
    n: int  # pairs (paired) or the smaller group (unpaired)
    paired: bool
    dropped: int = 0  # rounds measured on one side only, left out of the pairing


def cost_logs(values: np.ndarray, higher_is_better: bool) -> np.ndarray:
    """Log values signed so that a larger one costs more (``-log`` of a rate)."""
    logs = np.log(values)
    return -logs if higher_is_better else logs


def paired_effect(reference: Mapping[int, float], other: Mapping[int, float],
                  higher_is_better: bool) -> Effect:
    """The effect from the rounds both sides measured: a t statistic on per-round log ratios."""
    rounds = sorted(set(reference) & set(other))
    dropped = len(set(reference) ^ set(other))
    if not rounds:
        return Effect(math.nan, math.nan, 0.0, 0, True, dropped)
    ref = np.array([reference[r] for r in rounds], dtype=float)
    mine = np.array([other[r] for r in rounds], dtype=float)
    diffs = cost_logs(mine, higher_is_better) - cost_logs(ref, higher_is_better)
    n = int(diffs.size)
    se = float(np.std(diffs, ddof=1) / math.sqrt(n)) if n > 1 else math.nan
    return Effect(float(diffs.mean()), se, float(n - 1), n, True, dropped)


def unpaired_effect(reference: np.ndarray, other: np.ndarray, higher_is_better: bool
                    ) -> Effect:
    """The effect from two independent groups: Welch's t on their log values."""
    a = cost_logs(np.asarray(reference, dtype=float), higher_is_better)
    b = cost_logs(np.asarray(other, dtype=float), higher_is_better)
    n = min(a.size, b.size)
    if n < 2:
        return Effect(float(b.mean() - a.mean()), math.nan, 0.0, int(n), False)
    va, vb = np.var(a, ddof=1) / a.size, np.var(b, ddof=1) / b.size
    se = math.sqrt(va + vb)
    if se == 0.0:
        df = float(a.size + b.size - 2)
    else:
        df = (va + vb) ** 2 / (va ** 2 / (a.size - 1) + vb ** 2 / (b.size - 1))
    return Effect(float(b.mean() - a.mean()), se, float(df), int(n), False)


def log_margin(margin_pct: float) -> float:
    """A margin of m% as a distance on the log scale: the same both ways."""
    return math.log1p(margin_pct / 100.0)


def factor_pct(c: float) -> float:
    """A log cost ratio as a signed overhead: ``+36.0`` for 1.36x the cost, ``-50.0`` for half.

    On this scale a slowdown of x times and a speed-up of x times are the same distance from 0
    in log terms, and the sign says which.
    """
    return (math.exp(c) - 1.0) * 100.0


def change_pct(c: float, higher_is_better: bool) -> float:
    """The same effect as the metric itself moved: ``-26.4`` (% requests/s) for ``c = log 1.36``."""
    return (math.exp(-c if higher_is_better else c) - 1.0) * 100.0
