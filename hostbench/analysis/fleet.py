"""Several hosts side by side: each workload metric's overhead against bare metal, per host (one
run each), with what tells the hosts apart (CPU model, kernel, KVM or TCG)."""

from __future__ import annotations

from dataclasses import dataclass

from hostbench.analysis import stats
from hostbench.analysis.overheads import analyse
from hostbench.analysis.rule import run_alpha
from hostbench.errors import HostbenchError
from hostbench.results.store import StoredRun


@dataclass(frozen=True)
class HostColumn:
    """One host of the fleet: its run and the facts that tell it from the others."""

    run_id: str
    stack: str
    host: str  # how hostbench reached it
    hostname: str
    cpu_model: str
    kernel: str
    accel: str  # the VMs' accelerator: kvm, tcg, or "-" without a VM
    status: str


@dataclass(frozen=True)
class FleetRow:
    """One workload metric in one environment: its overhead on each host (None: not measured
    there, or no ratio)."""

    workload: str
    metric: str
    unit: str
    higher_is_better: bool
    env: str
    label: str
    overheads: tuple[stats.Overhead | None, ...]


def host_column(run: StoredRun) -> HostColumn:
    record, facts = run.record, run.record.host
    return HostColumn(run_id=record.id, stack=record.stack,
                      host=facts.reached if facts else "?",
                      hostname=facts.hostname if facts else "?",
                      cpu_model=facts.cpu_model if facts else "?",
                      kernel=facts.kernel if facts else "?",
                      accel=", ".join(sorted(record.vm_accels)) or "-", status=record.status)


def side_by_side(runs: list[StoredRun]) -> tuple[list[HostColumn], list[FleetRow]]:
    """Every workload metric and environment measured on at least one host, in order."""
    if len(runs) < 2:
        raise HostbenchError("a fleet comparison needs at least two runs")
    per_run = [{(r.workload, r.metric, r.env.name): r for r in analyse(
        run.measured(), run.record.environments, run.record.verdict_margins,
        run_alpha(run.record.stopping))} for run in runs]
    order: dict[tuple[str, str, str], None] = {}
    for results in per_run:
        order.update(dict.fromkeys(k for k, r in results.items() if not r.env.is_baseline))
    rows = []
    for key in sorted(order, key=lambda k: (k[0], k[1])):
        first = next(results[key] for results in per_run if key in results)
        rows.append(FleetRow(
            workload=key[0], metric=key[1], unit=first.unit,
            higher_is_better=first.higher_is_better, env=key[2], label=first.env.label,
            overheads=tuple(results[key].overhead if key in results else None
                            for results in per_run)))
    return [host_column(run) for run in runs], rows
