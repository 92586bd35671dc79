"""A run's verdicts and the evidence beside them, computed once and handed to every consumer
(summary, report, exports)."""

from __future__ import annotations

from dataclasses import dataclass

from hostbench.analysis.evidence import RunEvidence, run_evidence
from hostbench.analysis.factors import FactorEffect, factor_effects
from hostbench.analysis.overheads import MetricResult, analyse
from hostbench.analysis.rule import run_alpha
from hostbench.results.store import StoredRun
from hostbench.run.run_records import MetricNames, RunRecord
from hostbench.run.workloads import load_catalogue, metric_names

TODAYS_CATALOGUE = ("this run was stored before runs kept their workload catalogue: its units "
                    "of work and published references are read from today's workloads/*.yaml")


@dataclass(frozen=True)
class RunAnalysis:
    results: list[MetricResult]  # every metric in every environment, against bare metal
    effects: list[FactorEffect]  # every variant against what it varies
    alpha: float  # the level the verdicts were judged at
    evidence: RunEvidence  # where the time went, per unit of work, against bare metal
    catalogue: MetricNames  # the workloads' metrics the run was planned with
    catalogue_note: str | None  # why the catalogue is today's, not the run's own


def run_catalogue(record: RunRecord) -> tuple[MetricNames, str | None]:
    """The catalogue the run recorded; today's, with a note, for a run stored without one."""
    if record.catalogue is not None:
        return record.catalogue, None
    return metric_names(load_catalogue()), TODAYS_CATALOGUE


def analyse_run(run: StoredRun) -> RunAnalysis:
    record, measured = run.record, run.measured()
    alpha = run_alpha(record.stopping)
    catalogue, note = run_catalogue(record)
    first_metrics = {name: metrics[0] for name, metrics in catalogue.items()}
    return RunAnalysis(analyse(measured, record.environments, record.verdict_margins, alpha),
                       factor_effects(measured, record.environments, record.verdict_margins),
                       alpha, run_evidence(run.trials, record.environments, first_metrics,
                                           alpha), catalogue, note)
