"""The terminal summary of a stored run: the result table, the evidence beside its slower
verdicts, the isolation table, the factor effects, the noise floor of a calibration and the run's
time split, as `fab benchmark` ends and `fab report` prints it."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from rich.console import Console

from hostbench.analysis.calibration import noise_floors
from hostbench.analysis.evidence import RunEvidence
from hostbench.analysis.isolation import losses, neighbour_note
from hostbench.analysis.overheads import MetricResult
from hostbench.analysis.run_analysis import RunAnalysis, analyse_run
from hostbench.console import untrusted
from hostbench.paths import run_dir
from hostbench.report.answer import answer_lines, rule_note
from hostbench.report.lifecycle_report import print_lifecycle
from hostbench.report.tables import factor_table, isolation_table, summary_table
from hostbench.report.text import evidence_text
from hostbench.results.store import StoredRun
from hostbench.run.phases import breakdown


def print_summary(run: StoredRun, console: Console, analysis: RunAnalysis | None = None
                  ) -> None:
    """The summary of ``run`` (whose ``analysis`` the caller may have computed already)."""
    record = run.record
    if record.purpose == "lifecycle":
        print_lifecycle(run, console)
        return
    margins = record.verdict_margins
    analysis = analysis or analyse_run(run)
    results, effects = analysis.results, analysis.effects
    for line in answer_lines(results):
        console.print(line, highlight=False, markup=False)
    console.print(rule_note(record),
                  highlight=False, markup=False)
    console.print(summary_table(results, f"run {record.id} ({record.suite} suite, "
                                         f"stack {record.stack})", analysis.alpha))
    _print_evidence(results, analysis.evidence, console)
    found = losses(run.measured(), record.environments, margins)
    if found:
        console.print(isolation_table(found, "isolation: each environment beside a stressing "
                                             "neighbour against itself quiet"))
        console.print(neighbour_note(record.options.neighbour_cores), markup=False)
    if effects:
        console.print(factor_table(effects, "factor effects: each variant against the "
                                            "environment it varies"))
    if record.purpose == "calibration":
        _print_floors(run, console)
    elif margins.floor_run:
        console.print(f"noise floor from calibration run {margins.floor_run}: a slower or "
                      "faster claim must exceed it, and where it exceeds a metric's margin "
                      "that metric cannot read equivalent", highlight=False, markup=False)
        if margins.floor_stale:
            console.print(f"the calibration is stale: {margins.floor_stale}; run `fab "
                          "calibrate` again", style="yellow", highlight=False, markup=False)
    if "tcg" in record.vm_accels:
        console.print("[bold yellow]The VM ran under TCG (software emulation, no KVM on this "
                      "host): its numbers measure QEMU's emulator, not KVM.[/]")
    failed = run.failed_trials()
    if failed:
        console.print(f"[red]{len(failed)} trial(s) failed[/]; see their raw output under "
                      f"{run_dir(record.id) / 'raw'}")
    if record.wall_seconds:
        share = 100 * (record.orchestration_seconds or 0) / record.wall_seconds
        phases = f": {breakdown(record.orchestration)}" if record.orchestration else ""
        console.print(f"wall time {record.wall_seconds:.0f}s: workloads "
                      f"{record.workload_seconds or 0:.0f}s, orchestration "
                      f"{record.orchestration_seconds or 0:.0f}s ({share:.1f}%{phases})  "
                      f"status: {record.status}", highlight=False)


def _print_floors(run: StoredRun, console: Console) -> None:
    console.print("noise floor of this host (the spread of one round of bare metal against "
                  "bare metal on the same cores): later runs on this stack claim no smaller "
                  "difference")
    for floor in noise_floors(run):
        console.print(f"  {floor.workload} {floor.metric}: +-{floor.floor_pct:.2f}% (within a "
                      f"round +-{floor.within_pct:.2f}%, between rounds "
                      f"+-{floor.between_pct:.2f}%: pairing by round removes the latter)",
                      highlight=False, markup=False)


def _print_evidence(results: Sequence[MetricResult], evidence: RunEvidence, console: Console
                    ) -> None:
    """One line per workload and environment with a slower verdict: the accounting figures
    that differ most from bare metal's (nothing for a run without accounting)."""
    slower: dict[tuple[str, str, str], list[str]] = defaultdict(list)
    for r in results:
        if r.overhead and r.overhead.verdict == "slower":
            slower[(r.workload, r.env.name, r.env.label)].append(r.metric)
    for (workload, env, label), metrics in slower.items():
        found = evidence.of(workload, env)
        if found:
            console.print(untrusted(f"evidence, {workload} on {label} (slower: "
                                    f"{', '.join(metrics)}): {evidence_text(found)}"),
                          highlight=False)
