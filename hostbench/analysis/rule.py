"""The verdict rule on the log cost scale, written once for one effect and for arrays of them
(the simulations in tests/unit/analysis/test_error_rates.py run this very code).

* slower / faster: the (1 - alpha) t-interval of the effect lies entirely beyond +t / below -t,
  where t is the margin m, or the host's noise floor f where that is larger (a floor is the
  smallest difference this host can tell, never a licence to call things equal);
* equivalent: the interval lies within +-m (two one-sided tests at alpha / 2 each), and only
  where the floor does not exceed m;
* inconclusive: anything else, and always with fewer than MIN_PAIRS pairs.

Over the slower/faster claims of one run, Holm's step-down method holds the chance of any
false claim at alpha (``holm``); equivalence is an intersection-union test and needs none.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from hostbench.run.run_records import Stopping

ALPHA = 0.05
"""The error rate of every claim: 95% intervals, at most 2.5% false slower (or faster)."""

MIN_PAIRS = 2
"""No verdict from fewer pairs: one pair says nothing of the spread. With two, the rule holds
its error rates under normal, heavy-tailed and spiky noise (test_error_rates.py), though only
an effect far beyond the margin can be told on one degree of freedom."""

RULE_NAME = "paired log-ratio t-interval, Holm over each workload's slower/faster claims"

METHOD = ("Overhead: the cost factor exp(mean log ratio) as a percentage, + is worse whichever "
          "way the metric is better (1.36x the time, or 1/1.36 the rate, is +36.0%); a "
          "t-interval (95%, or the level the verdicts line gives), paired by round where both "
          "sides ran in the same rounds (Welch's t on the log values otherwise); p: of a "
          "difference beyond the margin.")
"""How every table and report states the method, in one place."""

SLOWER, FASTER, EQUIVALENT, INCONCLUSIVE = 0, 1, 2, 3
NAMES = ("slower", "faster", "equivalent", "inconclusive")


def _student_t():
    """Student's t, imported on first use: importing scipy.stats takes a second."""
    from scipy.stats import t

    return t


def run_alpha(stopping: Stopping | None) -> float:
    """The level a run's verdicts are judged at: ALPHA, or its planned looks' share of it."""
    return ALPHA / len(stopping.looks) if stopping and stopping.looks else ALPHA


def quantile(df: np.ndarray | float, alpha: float) -> np.ndarray:
    """The two-sided (1 - alpha) t quantile; infinite without degrees of freedom."""
    df = np.asarray(df, dtype=float)
    with np.errstate(invalid="ignore"):
        return np.where(df > 0, _student_t().ppf(1.0 - alpha / 2.0, np.maximum(df, 1e-9)), np.inf)


def interval(mean: np.ndarray | float, se: np.ndarray | float, df: np.ndarray | float,
             alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """The (1 - alpha) t-interval of the effect; a zero standard error collapses it."""
    half = np.where(np.asarray(se) == 0.0, 0.0, quantile(df, alpha) * np.asarray(se))
    return np.asarray(mean) - half, np.asarray(mean) + half


def claim_p(mean: np.ndarray | float, se: np.ndarray | float, df: np.ndarray | float,
            threshold: np.ndarray | float) -> np.ndarray:
    """The p-value of "beyond +-threshold" (two-sided): below alpha exactly when the interval
    lies beyond it."""
    mean, se, df = (np.asarray(x, dtype=float) for x in (mean, se, df))
    with np.errstate(divide="ignore", invalid="ignore"):
        up = (mean - threshold) / se
        down = (-mean - threshold) / se
        tail = _student_t().sf(np.maximum(up, down), np.maximum(df, 1e-9))
    exact = np.where(np.abs(mean) > threshold, 0.0, 1.0)  # no spread: the point decides
    p = np.where(se == 0.0, exact, np.minimum(2.0 * tail, 1.0))
    return np.where((df > 0) | (se == 0.0), p, 1.0)


def verdict_codes(mean: np.ndarray | float, se: np.ndarray | float, df: np.ndarray | float,
                  n: np.ndarray | int, margin: float, floor: float = 0.0,
                  alpha: float = ALPHA) -> np.ndarray:
    """The verdict (SLOWER ... INCONCLUSIVE) of each effect; margin and floor on the log scale."""
    low, high = interval(mean, se, df, alpha)
    beyond = max(margin, floor)
    codes = np.full(np.shape(low), INCONCLUSIVE)
    codes = np.where((-margin <= low) & (high <= margin) & (floor <= margin), EQUIVALENT, codes)
    codes = np.where(low > beyond, SLOWER, codes)
    codes = np.where(high < -beyond, FASTER, codes)
    return np.where(np.asarray(n) >= MIN_PAIRS, codes, INCONCLUSIVE)


def holm(p_values: Sequence[float], alpha: float = ALPHA) -> list[bool]:
    """Which of a family's hypotheses Holm's step-down method rejects at family level alpha."""
    order = sorted(range(len(p_values)), key=lambda i: p_values[i])
    rejected = [False] * len(p_values)
    for rank, i in enumerate(order):
        if p_values[i] > alpha / (len(p_values) - rank):
            break
        rejected[i] = True
    return rejected


def rounds_needed(sd: float, df: float, distance: float, alpha: float) -> int | None:
    """Roughly how many pairs would bring the interval's half-width under ``distance``, with
    today's spread; None when no count would."""
    if distance <= 0 or not math.isfinite(sd):
        return None
    t = float(quantile(max(df, 2.0), alpha))
    return max(MIN_PAIRS, math.ceil((t * sd / distance) ** 2))
