"""Parsers of the host's /proc text an accounting snapshot holds: each CPU's time split, the
softirqs by type, interrupts, and a process's (or thread's) CPU time."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
CPU_FIELDS = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal", "guest",
              "guest_nice")
"""The columns of a cpuN line of /proc/stat, in order (in USER_HZ ticks)."""

CpuTimes = dict[int, dict[str, float]]


def cpu_times(stat: str) -> CpuTimes:
    """Seconds each CPU spent in each state, from /proc/stat. The kernel counts guest time in
    user (and guest_nice in nice) as well: here it is taken out, so the states add up."""
    cpus: CpuTimes = {}
    for line in stat.splitlines():
        name, _, rest = line.partition(" ")
        if not (name.startswith("cpu") and name[3:].isdigit()):
            continue
        ticks = [int(v) for v in rest.split()][:len(CPU_FIELDS)]
        states = dict(zip(CPU_FIELDS, (t / CLOCK_TICKS for t in ticks), strict=False))
        states["user"] = states["user"] - states.get("guest", 0.0)
        states["nice"] = states["nice"] - states.get("guest_nice", 0.0)
        cpus[int(name[3:])] = states
    if not cpus:
        raise ValueError("/proc/stat has no cpuN lines")
    return cpus


def interrupts(stat: str) -> int:
    """Interrupts serviced since boot, all CPUs (the first number of /proc/stat's intr line)."""
    for line in stat.splitlines():
        if line.startswith("intr "):
            return int(line.split()[1])
    raise ValueError("/proc/stat has no intr line")


def softirqs(text: str) -> dict[str, int]:
    """Softirqs raised since boot by type (NET_RX, TIMER, ...), summed over every CPU."""
    counts = {}
    for line in text.splitlines()[1:]:
        name, _, values = line.partition(":")
        if values.strip():
            counts[name.strip()] = sum(int(v) for v in values.split())
    if not counts:
        raise ValueError("/proc/softirqs has no counters")
    return counts


def task_times(stat: str) -> tuple[str, float]:
    """The command name and user + system seconds of a process or thread, from its stat file
    (for a process: all its threads, those gone included)."""
    head, _, tail = stat.rpartition(")")
    fields = tail.split()
    return head.partition("(")[2], (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def sum_states(cpus: CpuTimes, which: Iterable[int]) -> dict[str, float]:
    """The states of the CPUs in ``which``, added up."""
    total = dict.fromkeys(CPU_FIELDS, 0.0)
    for cpu in which:
        for state, seconds in cpus.get(cpu, {}).items():
            total[state] += seconds
    return total


def delta(before: Mapping[str, float], after: Mapping[str, float]) -> dict[str, float]:
    """What grew between two readings of the same counters (those in both, never negative:
    a counter that went back was reset)."""
    return {k: max(after[k] - before[k], 0.0) for k in after if k in before}
