"""A run's verdicts and the evidence beside them, computed once and handed to every consumer
(summary, report, exports)."""

from __future__ import annotations

from dataclasses import dataclass

from hostbench.analysis.evidence import RunEvidence, run_evidence
from hostbench.analysis.factors import FactorEffect, factor_effects
from hostbench.analysis.overheads import MetricResult, analyse
from hostbench.analysis.rule import run_alpha
from hostbench.results.store import StoredRun
from hostbench.run.workloads import load_catalogue


@dataclass(frozen=True)
class RunAnalysis:
    results: list[MetricResult]  # every metric in every environment, against bare metal
    effects: list[FactorEffect]  # every variant against what it varies
    alpha: float  # the level the verdicts were judged at
    evidence: RunEvidence  # where the time went, per unit of work, against bare metal


def analyse_run(run: StoredRun) -> RunAnalysis:
    record, measured = run.record, run.measured()
    alpha = run_alpha(record.stopping)
    first_metrics = {name: w.metrics[0] for name, w in load_catalogue().items()}
    return RunAnalysis(analyse(measured, record.environments, record.verdict_margins, alpha),
                       factor_effects(measured, record.environments, record.verdict_margins),
                       alpha, run_evidence(run.trials, record.environments, first_metrics,
                                           alpha))
