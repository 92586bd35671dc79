"""A lifecycle run's numbers: each step's median and bootstrap CI per environment, the VM
against the container with a verdict, each variant against what it varies, and density steps."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from hostbench.analysis import stats
from hostbench.analysis.factors import FactorEffect, factor_effects
from hostbench.results.store import StoredRun
from hostbench.run.lifecycle_metrics import (
    DENSITY,
    DENSITY_STEP,
    FOOTPRINT,
    METRIC_ORDER,
    READY,
    SETUP,
)
from hostbench.run.run_records import Margins
from hostbench.stack.environments import Environment, Kind

COMPARED = (READY, FOOTPRINT)
"""The workloads whose environments are compared with each other."""


@dataclass(frozen=True)
class StepResult:
    """One metric of one lifecycle workload in one environment."""

    workload: str
    metric: str
    unit: str
    env: Environment
    values: list[float]
    summary: stats.Summary


@dataclass(frozen=True)
class KindComparison:
    """The VM against the container on one metric: + means the VM takes longer or holds more."""

    workload: str
    metric: str
    unit: str
    vm: Environment
    container: Environment
    overhead: stats.Overhead


@dataclass(frozen=True)
class DensityRow:
    """One density step of one environment."""

    env: Environment
    instances: int
    answering: int
    start_median_s: float
    start_max_s: float
    host_memory_mib: float  # more than before the first instance
    marginal_mib: float  # per instance added in this step
    attributed_mib: float  # per instance, from its own processes (PSS / cgroup)


def step_results(run: StoredRun, workloads: Sequence[str] = (SETUP, READY, FOOTPRINT)
                 ) -> list[StepResult]:
    """Per workload, metric (in METRIC_ORDER) and environment (the run's order)."""
    groups: dict[tuple[str, str, str], list[float]] = defaultdict(list)
    units: dict[tuple[str, str], str] = {}
    for s in run.measured():
        if s.workload in workloads:
            groups[(s.workload, s.metric, s.env)].append(s.value)
            units[(s.workload, s.metric)] = s.unit

    def order(key: tuple[str, str]) -> tuple[int, int]:
        workload, metric = key
        rank = METRIC_ORDER.index(metric) if metric in METRIC_ORDER else len(METRIC_ORDER)
        return workloads.index(workload), rank

    results = []
    for workload, metric in sorted(units, key=order):
        for env in run.record.environments:
            values = groups.get((workload, metric, env.name))
            if values:
                results.append(StepResult(workload, metric, units[(workload, metric)], env,
                                          values, stats.summarize(values)))
    return results


def _margins(run: StoredRun) -> Margins:
    settings = run.record.lifecycle
    margin = settings.margin_pct if settings else 10.0
    return Margins(workloads=dict.fromkeys(COMPARED, margin))


def _first(envs: Sequence[Environment], kind: Kind) -> Environment | None:
    return next((e for e in envs if e.kind is kind and e.variant_of is None), None)


def vm_against_container(run: StoredRun, results: Sequence[StepResult]
                         ) -> list[KindComparison]:
    """The stack's VM against its container on every compared metric (variants aside)."""
    envs = run.record.environments
    vm, container = _first(envs, Kind.VM), _first(envs, Kind.CONTAINER)
    if vm is None or container is None:
        return []
    margins = _margins(run)
    by_key = {(r.workload, r.metric, r.env.name): r for r in results}
    comparisons = []
    for r in results:
        if r.workload not in COMPARED or r.env.name != container.name:
            continue
        mine = by_key.get((r.workload, r.metric, vm.name))
        if mine is None or min(r.values) <= 0:
            continue
        comparisons.append(KindComparison(
            r.workload, r.metric, r.unit, vm, container,
            stats.overhead(r.values, mine.values, higher_is_better=False,
                           margin_pct=margins.of(r.workload, r.metric))))
    return comparisons


def variant_effects(run: StoredRun) -> list[FactorEffect]:
    """Each variant against the environment it varies (e.g. gVisor's start against runc's)."""
    measured = [s for s in run.measured() if s.workload in COMPARED]
    return factor_effects(measured, run.record.environments, _margins(run))


def density_rows(run: StoredRun) -> list[DensityRow]:
    """Every density step, per environment in the run's order, with its instances' start
    times."""
    starts: dict[tuple[str, int], float] = {}
    steps: dict[tuple[str, int], dict[str, float]] = defaultdict(dict)
    for s in run.measured():
        if s.workload == DENSITY and s.metric == "ready_s":
            starts[(s.env, s.trial)] = s.value
        elif s.workload == DENSITY_STEP:
            steps[(s.env, s.trial)][s.metric] = s.value
    rows = []
    for env in run.record.environments:
        for (name, count), values in sorted(steps.items()):
            if name != env.name:
                continue
            mine = [v for (n, i), v in starts.items() if n == name and i <= count]
            rows.append(DensityRow(
                env, count, int(values.get("answering", 0)),
                stats.summarize(mine).median if mine else 0.0, max(mine, default=0.0),
                values.get("host_memory_mib", 0.0), values.get("marginal_mib", 0.0),
                values.get("attributed_mib", 0.0)))
    return rows
