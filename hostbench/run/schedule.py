"""The order of trials: per workload, rounds that run every environment once, rotated.

Rotating the environment order each round means that over ``len(envs)`` rounds every
environment runs in every position equally often, so drift (thermal state, caches, background
activity) is not charged to one environment.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from hostbench.errors import HostbenchError
from hostbench.record_base import Record


class PlannedTrial(Record):
    """One run of one workload in one environment (by name)."""

    workload: str
    trial: int  # round number, 0-based across warm-up and measured rounds
    warmup: bool
    env: str
    position: int  # 0-based position of env within its round

    @property
    def key(self) -> tuple[str, str, int]:
        """``(workload, env, trial)``: what identifies a planned trial."""
        return (self.workload, self.env, self.trial)


def rotation(envs: Sequence[str], round_index: int) -> list[str]:
    """``envs`` rotated left by ``round_index``: round 1 of (a, b, c) is (b, c, a)."""
    if not envs:
        return []
    shift = round_index % len(envs)
    return [*envs[shift:], *envs[:shift]]


def _check_envs(envs: Sequence[str]) -> None:
    if not envs:
        raise HostbenchError("no environments to run")
    if len(set(envs)) != len(envs):
        raise HostbenchError(f"environments are listed twice: {', '.join(envs)}")


def plan(workloads: Sequence[str], envs: Sequence[str], warmup: int,
         repeat: int) -> list[PlannedTrial]:
    """For each workload, ``warmup + repeat`` rounds (warm-up first), each running every
    environment once in the order ``rotation(envs, round)``; the rotation restarts per workload.
    """
    _check_envs(envs)
    if warmup < 0:
        raise HostbenchError(f"warm-up rounds must be 0 or more, got {warmup}")
    if repeat < 1:
        raise HostbenchError(f"measured rounds must be at least 1, got {repeat}")
    if len(set(workloads)) != len(workloads):
        raise HostbenchError(f"workloads are listed twice: {', '.join(workloads)}")
    return [PlannedTrial(workload=workload, trial=round_index, warmup=round_index < warmup,
                         env=env, position=position)
            for workload in workloads
            for round_index in range(warmup + repeat)
            for position, env in enumerate(rotation(envs, round_index))]


def estimate_seconds(plan: Iterable[PlannedTrial], durations: Mapping[str, int],
                     per_trial_overhead_s: float) -> float:
    """Expected wall time: each trial's workload duration (by workload name) plus overhead."""
    if per_trial_overhead_s < 0:
        raise ValueError(f"per-trial overhead must not be negative, got {per_trial_overhead_s}")
    total = 0.0
    for trial in plan:
        if trial.workload not in durations:
            raise ValueError(f"no duration given for workload {trial.workload!r}")
        total += durations[trial.workload] + per_trial_overhead_s
    return total
