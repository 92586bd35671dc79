"""`--repeat auto`: when one more interleaved round of a workload is worth running.

After a minimum number of rounds, another round runs while some metric of the workload is
inconclusive and its confidence interval is still shrinking, up to a maximum and within a time
budget. The rule looks only at where the intervals lie against the margin (+-m, symmetric),
never at which way a difference goes, and every round counts in the final interval; the minimum
count keeps the early, widest intervals from deciding alone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from hostbench.analysis.overheads import MetricResult

SHRINK_WINDOW = 2
"""An inconclusive interval is still narrowing while the mean of its last SHRINK_WINDOW widths
is below its width at the minimum round count: a bootstrap interval of a median jumps a little
from round to round, so one round proves nothing either way (chosen on simulated data: see
tests/unit/analysis/test_verdicts.py)."""


@dataclass(frozen=True)
class Decision:
    more: bool
    reason: str


def decide(results: Sequence[MetricResult], widths: Mapping[tuple[str, str], list[float]],
           rounds: int, minimum: int, maximum: int, elapsed_s: float, budget_s: float
           ) -> Decision:
    """Whether the workload whose ``results`` these are gets another round. ``widths`` holds,
    per (environment, metric), the width of its overhead CI after each round from the minimum
    on (the caller appends the current ones)."""
    if rounds < minimum:
        return Decision(True, f"fewer than the minimum of {minimum} rounds")
    pending = [r for r in results if r.overhead is not None
               and r.overhead.verdict == "inconclusive"]
    if not pending:
        return Decision(False, "every metric has a verdict")
    if rounds >= maximum:
        return Decision(False, f"the maximum of {maximum} rounds, {len(pending)} metric(s) "
                               "still inconclusive")
    if elapsed_s >= budget_s:
        return Decision(False, f"the time budget of {budget_s / 60:.0f} min, {len(pending)} "
                               "metric(s) still inconclusive")
    shrinking = [r for r in pending if _shrinking(widths.get((r.env.name, r.metric), []))]
    if not shrinking:
        return Decision(False, f"the intervals of {len(pending)} inconclusive metric(s) stopped "
                               "shrinking: a quieter host would tell more than more rounds")
    return Decision(True, f"{len(shrinking)} inconclusive metric(s) still narrowing")


def _shrinking(history: list[float]) -> bool:
    """Narrower lately than at the minimum round count (or too few rounds to tell)."""
    if len(history) <= SHRINK_WINDOW:
        return True
    return sum(history[-SHRINK_WINDOW:]) / SHRINK_WINDOW < history[0]
