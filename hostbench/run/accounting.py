"""Accounting around every measured trial: where each host CPU's time went (the measured cores
and the others apart), softirqs by type, interrupts, and the CPU time of the environment's
host-side machinery, from two snapshots of the host's /proc taken just before and just after
the measured command (the command's own rusage comes with its result)."""

from __future__ import annotations

import glob
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from hostbench.errors import HostbenchError
from hostbench.provision.metering import CpuTimeFile
from hostbench.reach.rusage import Rusage
from hostbench.run.machinery import (
    Machinery,
    container_machinery,
    engine_daemons,
    process_list,
    thread_group,
    vm_machinery,
)
from hostbench.run.neighbours import Control
from hostbench.run.procfs import cpu_times, delta, interrupts, softirqs, sum_states, task_times
from hostbench.run.run_records import Figure
from hostbench.stack.environments import Kind
from hostbench.stack.host import Host

SEPARATOR = "\n@@hostbench-file@@ "
# Prints each readable file matching the patterns, after a line naming it (globs expanded here).
_CAT = ('for p in "$@"; do for f in $p; do [ -r "$f" ] && { printf "\\n@@hostbench-file@@ %s\\n" '
        '"$f"; cat "$f"; }; done; done 2>/dev/null; exit 0')
ERRORS = (HostbenchError, OSError, ValueError, IndexError, KeyError, StopIteration)


def read_files(host: Host, patterns: list[str]) -> dict[str, str]:
    """The text of every host file matching ``patterns`` (unreadable ones left out): read here
    on this machine, in one command over SSH on a remote host."""
    if host.remote:
        return dict(part.split("\n", 1) for part in
                    host.output(["sh", "-c", _CAT, "sh", *patterns], timeout=30)
                    .split(SEPARATOR)[1:] if "\n" in part)
    found = {}
    for pattern in patterns:
        for path in glob.glob(pattern) if glob.has_magic(pattern) else [pattern]:
            try:
                found[path] = Path(path).read_text()
            except OSError:
                continue
    return found


def _task_pattern(pid: int) -> str:
    return f"/proc/{pid}/task/*/stat"


def patterns(machinery: Machinery, cgroup: CpuTimeFile | None) -> list[str]:
    pids = sorted({pid for group in machinery.processes.values() for pid in group})
    found = ["/proc/stat", "/proc/softirqs", *(f"/proc/{pid}/stat" for pid in pids)]
    if machinery.qemu is not None:
        found.append(_task_pattern(machinery.qemu))
    if cgroup is not None:
        found.append(cgroup[0])
    return found


def _cpu_figures(before: str, after: str, measured: set[int]) -> list[Figure]:
    cpus_before, cpus_after = cpu_times(before), cpu_times(after)
    others = set(cpus_after) - measured
    return [Figure(name=f"cpu.{where}.{state}", value=seconds, unit="s")
            for where, cores in (("measured", measured & set(cpus_after)), ("other", others))
            for state, seconds in delta(sum_states(cpus_before, cores),
                                        sum_states(cpus_after, cores)).items()]


def _qemu_threads(before: Mapping[str, str], after: Mapping[str, str], pid: int
                  ) -> dict[str, float]:
    """Seconds of QEMU's vCPU threads and main loop; the rest of the process is "other"."""
    parts: dict[str, float] = {}
    prefix = f"/proc/{pid}/task/"
    for path, text in after.items():
        if path.startswith(prefix) and path in before:
            tid = int(path[len(prefix):].split("/")[0])
            name, seconds = task_times(text)
            group = thread_group(name, tid, pid)
            parts[group] = parts.get(group, 0.0) + max(seconds - task_times(before[path])[1], 0.0)
    return parts


def machinery_figures(before: Mapping[str, str], after: Mapping[str, str], machinery: Machinery,
                      cgroup: CpuTimeFile | None) -> tuple[list[Figure], list[str]]:
    """CPU seconds of each machinery group; and the groups that could not be read both times."""
    seconds: dict[str, float] = {}
    missing = []
    for group, pids in machinery.processes.items():
        paths = [f"/proc/{pid}/stat" for pid in pids]
        if not all(p in before and p in after for p in paths):
            missing.append(group)
            continue
        seconds[group] = sum(max(task_times(after[p])[1] - task_times(before[p])[1], 0.0)
                             for p in paths)
    if machinery.qemu is not None and "qemu" in seconds:
        threads = _qemu_threads(before, after, machinery.qemu)
        for group in ("qemu.vcpu", "qemu.main"):
            seconds[group] = threads.get(group, 0.0)
        seconds["qemu.other"] = max(seconds["qemu"] - seconds["qemu.vcpu"] - seconds["qemu.main"],
                                    0.0)
    if cgroup is not None:
        path, read = cgroup
        if path in before and path in after:
            seconds["container"] = max(read(after[path]) - read(before[path]), 0.0)
        else:
            missing.append("container")
    return [Figure(name=f"host.{g}", value=s, unit="s") for g, s in seconds.items()], missing


def snapshot_figures(before: Mapping[str, str], after: Mapping[str, str], machinery: Machinery,
                     cgroup: CpuTimeFile | None, measured: set[int]
                     ) -> tuple[list[Figure], list[str]]:
    """Every host figure of a trial from its two snapshots, and what could not be read."""
    stat_before, stat_after = before["/proc/stat"], after["/proc/stat"]
    figures = _cpu_figures(stat_before, stat_after, measured)
    figures.append(Figure(name="interrupts", unit="count",
                          value=max(interrupts(stat_after) - interrupts(stat_before), 0)))
    if "/proc/softirqs" in before and "/proc/softirqs" in after:
        figures += [Figure(name=f"softirq.{kind}", value=count, unit="count") for kind, count in
                    delta(softirqs(before["/proc/softirqs"]),
                          softirqs(after["/proc/softirqs"])).items()]
    host, missing = machinery_figures(before, after, machinery, cgroup)
    return figures + host, missing


def counts_reported(usage: Rusage) -> bool:
    """Whether the environment's kernel counts switches and faults: every process that ran
    faulted its pages in, so all of them at 0 means they are not counted (gVisor's sentry
    reports times only), not that none happened."""
    return usage.minor_faults > 0 or usage.voluntary_switches > 0 or \
        usage.involuntary_switches > 0


def rusage_figures(usage: Rusage, prefix: str) -> list[Figure]:
    """The measured command's own use (``workload``, or the host's ``loadgen`` for a service);
    counts the environment does not keep are left out, not stored as zeros."""
    figures = [Figure(name=f"{prefix}.user", value=usage.user_s, unit="s"),
               Figure(name=f"{prefix}.system", value=usage.system_s, unit="s"),
               Figure(name=f"{prefix}.max_rss", value=usage.max_rss_kib, unit="KiB")]
    if counts_reported(usage):
        figures += [Figure(name=f"{prefix}.{name}", value=value, unit="count") for name, value in
                    (("voluntary_switches", usage.voluntary_switches),
                     ("involuntary_switches", usage.involuntary_switches),
                     ("minor_faults", usage.minor_faults),
                     ("major_faults", usage.major_faults))]
    return figures


@dataclass
class TrialAccounts:
    """What one trial's accounting found, filled in when its measured command ends."""

    figures: list[Figure] = field(default_factory=list)
    note: str | None = None  # why some or all of it is missing


MachineryOf = Callable[[str], tuple[Machinery, CpuTimeFile | None]]


@dataclass
class Accountant:
    """Takes the snapshots around each measured command of a run, on the stack's host."""

    host: Host
    cores: Mapping[str, set[int]]  # the measured cores, by environment
    find: MachineryOf  # an environment's machinery, looked up on the host
    found: dict[str, tuple[Machinery, CpuTimeFile | None]] = field(default_factory=dict)

    def _machinery(self, env: str) -> tuple[Machinery, CpuTimeFile | None]:
        if env not in self.found:
            self.found[env] = self.find(env)
        return self.found[env]

    @contextmanager
    def around(self, env: str, accounts: TrialAccounts) -> Iterator[None]:
        """The body runs the measured command; if it returns, ``accounts`` is filled."""
        start = time.monotonic()
        try:
            machinery, cgroup = self._machinery(env)
            wanted = patterns(machinery, cgroup)
            before = read_files(self.host, wanted)
        except ERRORS as exc:
            accounts.note = f"no accounting: {type(exc).__name__}: {exc}"
            yield
            return
        cost = time.monotonic() - start
        yield
        start = time.monotonic()
        try:
            after = read_files(self.host, wanted)
            figures, missing = snapshot_figures(before, after, machinery, cgroup,
                                                self.cores[env])
        except ERRORS as exc:
            accounts.note = f"no accounting: {type(exc).__name__}: {exc}"
            return
        if missing:  # a process restarted: look it up again before the next trial
            self.found.pop(env, None)
            accounts.note = f"not read both times (restarted or gone): {', '.join(missing)}"
        cost += time.monotonic() - start
        accounts.figures += [*figures, Figure(name="accounting.cost", value=cost, unit="s")]


def machinery_finder(host: Host, control: Control, kinds: Mapping[str, Kind]
                     ) -> MachineryOf:
    """Looks an environment's machinery up on the host: its process list, and the control's
    word on the environment's first process (QEMU's, the container's) and cgroup."""
    def find(env: str) -> tuple[Machinery, CpuTimeFile | None]:
        processes = process_list(host.output(["ps", "-e", "-o", "pid=,ppid=,args="], timeout=30))
        kind = kinds[env]
        if kind is Kind.BARE:
            return Machinery(engine_daemons(processes)), None
        pid = control.main_pid(env)
        if kind is Kind.VM:
            return vm_machinery(processes, pid), None
        return container_machinery(processes, pid), control.cpu_file(env)
    return find
