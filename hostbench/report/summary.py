"""The terminal summary of a stored run: the result table, the isolation table, the factor
effects, the noise floor of a calibration and the run's time split, as `fab benchmark` ends and
`fab report` prints it."""

from __future__ import annotations

from rich.console import Console

from hostbench.analysis.calibration import noise_floors
from hostbench.analysis.factors import factor_effects
from hostbench.analysis.isolation import losses, neighbour_note
from hostbench.analysis.overheads import analyse
from hostbench.paths import run_dir
from hostbench.report.lifecycle_report import print_lifecycle
from hostbench.report.tables import factor_table, isolation_table, summary_table
from hostbench.results.store import StoredRun


def print_summary(run: StoredRun, console: Console) -> None:
    record = run.record
    if record.purpose == "lifecycle":
        print_lifecycle(run, console)
        return
    margins = record.verdict_margins
    results = analyse(run.measured(), record.environments, margins)
    console.print(summary_table(results, f"run {record.id} ({record.suite} suite, "
                                         f"stack {record.stack})"))
    found = losses(run.measured(), record.environments, margins)
    if found:
        console.print(isolation_table(found, "isolation: each environment beside a stressing "
                                             "neighbour against itself quiet"))
        console.print(neighbour_note(record.options.neighbour_cores), markup=False)
    effects = factor_effects(run.measured(), record.environments, margins)
    if effects:
        console.print(factor_table(effects, "factor effects: each variant against the "
                                            "environment it varies"))
    if record.purpose == "calibration":
        _print_floors(run, console)
    elif margins.floor_run:
        console.print(f"margins: never below this host's noise floor (calibration run "
                      f"{margins.floor_run})")
    if "tcg" in record.vm_accels:
        console.print("[bold yellow]The VM ran under TCG (software emulation, no KVM on this "
                      "host): its numbers measure QEMU's emulator, not KVM.[/]")
    failed = run.failed_trials()
    if failed:
        console.print(f"[red]{len(failed)} trial(s) failed[/]; see their raw output under "
                      f"{run_dir(record.id) / 'raw'}")
    if record.wall_seconds:
        share = 100 * (record.orchestration_seconds or 0) / record.wall_seconds
        console.print(f"wall time {record.wall_seconds:.0f}s: workloads "
                      f"{record.workload_seconds or 0:.0f}s, orchestration "
                      f"{record.orchestration_seconds or 0:.0f}s ({share:.1f}%)  "
                      f"status: {record.status}")


def _print_floors(run: StoredRun, console: Console) -> None:
    console.print("noise floor of this host (bare metal against bare metal on the same cores): "
                  "no margin of a later run on this stack is set below it")
    for floor in noise_floors(run):
        console.print(f"  {floor.workload} {floor.metric}: +-{floor.floor_pct:.2f}%",
                      highlight=False)
