"""Each workload metric per environment: its measured samples, summary and outliers, and its
overhead against bare metal, paired by round, with a 95% CI and a verdict."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from hostbench.analysis import stats
from hostbench.run.run_records import NOT_RECORDED, Margins, Sample
from hostbench.stack.environments import Environment


@dataclass(frozen=True)
class MetricResult:
    """One workload metric in one environment."""

    workload: str
    metric: str
    unit: str
    higher_is_better: bool
    env: Environment
    samples: list[Sample]  # measured (not warm-up), in the order they ran
    summary: stats.Summary
    outliers: list[bool]  # per sample: modified z-score above 3.5 within this environment
    overhead: stats.Overhead | None  # None for bare metal, and with the reason below
    no_overhead: str = ""  # why another environment has no overhead


    @property
    def key(self) -> tuple[str, str]:
        return (self.workload, self.metric)


Key = tuple[str, str, str]  # (workload, metric, environment)
Meta = dict[tuple[str, str], tuple[str, bool]]  # (workload, metric) -> (unit, higher is better)


def grouped_samples(measured: Iterable[Sample]) -> tuple[dict[Key, list[Sample]], Meta]:
    """Samples by workload, metric and environment, and each metric's unit and direction."""
    groups: dict[Key, list[Sample]] = defaultdict(list)
    meta: Meta = {}
    for s in measured:
        groups[(s.workload, s.metric, s.env)].append(s)
        meta[(s.workload, s.metric)] = (s.unit, s.higher_is_better)
    return groups, meta


def grouped(measured: Iterable[Sample]) -> tuple[dict[Key, list[float]], Meta]:
    """The values of ``grouped_samples``."""
    groups, meta = grouped_samples(measured)
    return {key: [s.value for s in mine] for key, mine in groups.items()}, meta


def _against_bare(bare: list[Sample], mine: list[Sample], higher: bool, margin_pct: float,
                  floor_pct: float) -> tuple[stats.Overhead | None, str]:
    """The overhead of ``mine`` against bare metal, paired by round, or why there is none."""
    if not bare:
        return None, "no bare-metal data"
    if min(s.value for s in bare) <= 0:
        return None, "bare metal measured 0: no ratio"
    if min(s.value for s in mine) <= 0:
        return None, "measured 0: no ratio"
    return between(bare, mine, higher, margin_pct, floor_pct), ""


def between(reference: Sequence[Sample], mine: Sequence[Sample], higher: bool,
            margin_pct: float, floor_pct: float = 0.0) -> stats.Overhead:
    """``mine`` against ``reference`` (all values > 0), paired by the round of each sample."""
    return stats.overhead([s.value for s in reference], [s.value for s in mine],
                          higher_is_better=higher, margin_pct=margin_pct, floor_pct=floor_pct,
                          bare_rounds=[s.trial for s in reference],
                          other_rounds=[s.trial for s in mine])


def analyse(measured: Iterable[Sample], environments: Sequence[Environment],
            margins: Margins = NOT_RECORDED, alpha: float = stats.ALPHA) -> list[MetricResult]:
    """Measured samples grouped per workload metric (sorted) and environment (in the order
    given), each compared with the baseline environment within the metric's margin; the
    slower/faster claims of each workload (its metrics in every environment: one experiment,
    with its own rounds and looks) held together by Holm's correction."""
    groups, meta = grouped_samples(measured)
    baseline = next((env.name for env in environments if env.is_baseline), None)
    results = []
    for (workload, metric), (unit, higher) in sorted(meta.items()):
        bare = groups.get((workload, metric, baseline or ""), [])
        for env in environments:
            mine = groups.get((workload, metric, env.name), [])
            if not mine:
                continue
            values = [s.value for s in mine]
            overhead, why = (None, "") if env.is_baseline else _against_bare(
                bare, mine, higher, margins.of(workload, metric), margins.floor(workload, metric))
            results.append(MetricResult(workload, metric, unit, higher, env, mine,
                                        stats.summarize(values), stats.outliers(values),
                                        overhead, why))
    held: dict[int, stats.Overhead | None] = {}
    for workload in dict.fromkeys(r.workload for r in results):
        family = [i for i, r in enumerate(results) if r.workload == workload]
        held.update(zip(family, stats.with_holm([results[i].overhead for i in family], alpha),
                        strict=True))
    return [replace(r, overhead=held[i]) for i, r in enumerate(results)]
