"""Each workload metric per environment: its measured samples, summary and outliers, and its
overhead against bare metal with a bootstrap 95% CI and a verdict."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from hostbench.analysis import stats
from hostbench.run.records import Sample
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
    overhead: stats.Overhead | None  # None for bare metal and when bare metal has no samples

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


def analyse(measured: Iterable[Sample], environments: Sequence[Environment]
            ) -> list[MetricResult]:
    """Measured samples grouped per workload metric (sorted) and environment (in the order
    given), each compared with the baseline environment."""
    groups, meta = grouped_samples(measured)
    baseline = next((env.name for env in environments if env.is_baseline), None)
    results = []
    for (workload, metric), (unit, higher) in sorted(meta.items()):
        bare = [s.value for s in groups.get((workload, metric, baseline or ""), [])]
        for env in environments:
            mine = groups.get((workload, metric, env.name), [])
            if not mine:
                continue
            values = [s.value for s in mine]
            overhead = (stats.overhead(bare, values, higher_is_better=higher)
                        if not env.is_baseline and bare else None)
            results.append(MetricResult(workload, metric, unit, higher, env, mine,
                                        stats.summarize(values), stats.outliers(values),
                                        overhead))
    return results
