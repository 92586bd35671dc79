"""`--repeat auto`: rounds at planned looks, each verdict at a level that holds over all of them.

Looking at the verdicts after every round and stopping once they are decided lets chance decide
(optional stopping: an A/A pair reads slower far more often than 2.5%). Here the looks are
planned before the first round (the minimum, then 1.5 times as many rounds each time, up to the
maximum), and every verdict of an adaptive run is judged at ALPHA / (number of looks): by the
union bound, the chance that any look makes a false claim stays within ALPHA, wherever the rule
stops. At each look, the environments whose metrics all have a verdict drop out; bare metal and
the open ones go on to the next look.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from hostbench.analysis.overheads import MetricResult
from hostbench.analysis.rule import ALPHA

GROWTH = 1.5
"""Each look after the first comes at 1.5 times the rounds of the one before (rounded up)."""


def looks(minimum: int, maximum: int) -> tuple[int, ...]:
    """The round counts at which the rule looks: ``looks(3, 15) == (3, 5, 8, 12, 15)``."""
    counts = [minimum]
    while counts[-1] < maximum:
        counts.append(min(maximum, math.ceil(counts[-1] * GROWTH)))
    return tuple(counts)


def look_alpha(minimum: int, maximum: int) -> float:
    """The level of each verdict of an adaptive run with these bounds."""
    return ALPHA / len(looks(minimum, maximum))


@dataclass(frozen=True)
class Decision:
    more: bool
    reason: str
    open_envs: tuple[str, ...] = ()  # environments with a metric still inconclusive


def open_environments(results: Sequence[MetricResult]) -> tuple[str, ...]:
    """The environments, in order, with a metric that has no verdict yet."""
    pending = (r.env.name for r in results if r.overhead is not None
               and r.overhead.verdict == "inconclusive")
    return tuple(dict.fromkeys(pending))


def decide(results: Sequence[MetricResult], rounds: int, maximum: int, elapsed_s: float,
           budget_s: float) -> Decision:
    """Whether the workload whose ``results`` (judged at the look level) these are goes on to
    its next look, and with which environments."""
    still = open_environments(results)
    if not still:
        return Decision(False, "every metric has a verdict")
    pending = sum(r.overhead is not None and r.overhead.verdict == "inconclusive"
                  for r in results)
    if rounds >= maximum:
        return Decision(False, f"the maximum of {maximum} rounds, {pending} metric(s) still "
                               "inconclusive", still)
    if elapsed_s >= budget_s:
        return Decision(False, f"the time budget ({budget_s / 60:.1f} min by the end of this "
                               f"workload), {pending} metric(s) still inconclusive", still)
    return Decision(True, f"{pending} metric(s) of {', '.join(still)} still inconclusive",
                    still)
