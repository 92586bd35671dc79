"""Where hostbench's own time goes in a run (its orchestration), phase by phase: what a trial
costs besides its measured command, and what the run costs besides its trials."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

PHASES = {
    "parity": "reading every environment's facts and checking them",
    "neighbours": "pausing the idle environments and resuming the measured one",
    "set-up": "a workload's first trial in an environment: scratch directory, service set-up",
    "servers": "each trial's host server, service and firewall rules, and metering the "
               "idle neighbours",
    "transport": "starting the command in its environment and taking its result back (SSH "
                 "into a VM or container), beyond what the environment measured",
    "accounting": "the host's snapshots before and after each measured command",
    "stores": "each trial's raw output and its row in the results store",
    "analysis": "deciding, between rounds, which workloads need more (--repeat auto)",
    "other": "the rest: progress, scheduling, between workloads",
}
"""Each phase's name and what it covers, in the order a summary lists them."""


@dataclass
class Phases:
    """Seconds spent per phase, added up over a run."""

    seconds: dict[str, float] = field(default_factory=dict)

    def add(self, phase: str, seconds: float) -> None:
        if phase not in PHASES:
            raise ValueError(f"unknown orchestration phase {phase!r}")
        self.seconds[phase] = self.seconds.get(phase, 0.0) + max(seconds, 0.0)

    @contextmanager
    def timed(self, phase: str) -> Iterator[None]:
        start = time.monotonic()
        try:
            yield
        finally:
            self.add(phase, time.monotonic() - start)


def with_other(seconds: dict[str, float], orchestration: float) -> dict[str, float]:
    """The phases measured, and what of ``orchestration`` none of them covers as "other"."""
    measured = {name: seconds[name] for name in PHASES if name in seconds and name != "other"}
    return {**measured, "other": max(orchestration - sum(measured.values()), 0.0)}


def seconds_text(value: float) -> str:
    return f"{value:.1f}s" if value >= 0.1 else f"{value * 1000:.0f}ms"


def breakdown(seconds: dict[str, float], limit: int = 4) -> str:
    """The largest phases, e.g. "transport 12.1s, servers 8.0s, parity 3.2s, other 40ms"."""
    largest = sorted(seconds.items(), key=lambda item: -item[1])[:limit]
    return ", ".join(f"{name} {seconds_text(value)}" for name, value in largest)
