"""Planning neighbour experiments: each environment measured quiet and beside every chosen
stressor in the same round, and the workloads a neighbour would make unfair refused."""

from __future__ import annotations

from collections.abc import Sequence

from hostbench.errors import HostbenchError
from hostbench.run.conditions import condition
from hostbench.run.workloads import Workload

SHARED_CORE = ("its host-side servers and load generators run on the cores the environments "
               "do not use, which is where the neighbour runs: the stressor would load the "
               "workload's own server, not its neighbour")


def conditions(envs: Sequence[str], stressors: Sequence[str]) -> list[str]:
    """Every environment quiet, then beside each stressor: one round runs them all."""
    return [name for env in envs for name in (env, *(condition(env, s) for s in stressors))]


def refusal(workload: Workload) -> str | None:
    """Why ``workload`` cannot be measured beside a neighbour, or None."""
    if workload.host_server is not None or workload.service is not None:
        return f"{workload.source}: {SHARED_CORE}"
    return None


def check(workloads: Sequence[Workload]) -> None:
    """Refuse, with the reason, workloads a neighbour cannot go beside."""
    for workload in workloads:
        if why := refusal(workload):
            raise HostbenchError(f"--neighbour: {why}; leave out {workload.name}")
