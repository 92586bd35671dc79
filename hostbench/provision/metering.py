"""What a VM or container uses on its host, read from /proc and its cgroup: CPU time and
memory. Plain file reads, without the Docker and libvirt clients, which the run's metering and
its fakes do not need (EnvironmentControl in provision.control finds the processes to read)."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from hostbench.errors import ControlError

CGROUP_ROOT = Path("/sys/fs/cgroup")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
Read = Callable[[str], str]


def _read_local(path: str) -> str:
    return Path(path).read_text()


def cgroup_dir(pid: int, controller: str, root: Path = CGROUP_ROOT, read: Read = _read_local
               ) -> Path:
    """The directory of the cgroup of process ``pid`` for ``controller`` (v1), or its v2 one."""
    lines = read(f"/proc/{pid}/cgroup").splitlines()
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controller in controllers.split(","):
            return root / controller / path.lstrip("/")
    for line in lines:
        if line.startswith("0::"):
            return root / line[3:].lstrip("/")
    raise ControlError(f"process {pid} is in no {controller} or cgroup v2 hierarchy")


CpuTimeFile = tuple[str, Callable[[str], float]]
"""A file that holds an environment's CPU time, and how to read seconds from its text: found once,
read at every metering (one read of the host each, however it is reached)."""


def _nanoseconds(text: str) -> float:
    return int(text) / 1e9


def _cpu_stat_seconds(text: str) -> float:
    usage = next(v for k, v in (f.split() for f in text.splitlines()) if k == "usage_usec")
    return int(usage) / 1e6


def _stat_fields(text: str) -> list[str]:
    """The fields of /proc/<pid>/stat after the command name (which may hold spaces and ")")."""
    return text.rsplit(")", 1)[1].split()


def _stat_cpu_seconds(text: str) -> float:
    fields = _stat_fields(text)
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime


def cgroup_cpu_file(pid: int, root: Path = CGROUP_ROOT, read: Read = _read_local
                    ) -> CpuTimeFile:
    """The CPU time file of the cgroup that process ``pid`` is in (cgroup v1 cpuacct.usage, or
    v2 cpu.stat)."""
    folder = cgroup_dir(pid, "cpuacct", root, read)
    try:
        read(str(folder / "cpuacct.usage"))
        return str(folder / "cpuacct.usage"), _nanoseconds
    except OSError:
        return str(folder / "cpu.stat"), _cpu_stat_seconds


def process_cpu_file(pid: int) -> CpuTimeFile:
    """The file with the user and system time of process ``pid`` and all its threads."""
    return f"/proc/{pid}/stat", _stat_cpu_seconds


def cgroup_cpu_seconds(pid: int, root: Path = CGROUP_ROOT, read: Read = _read_local) -> float:
    """CPU time of the cgroup that process ``pid`` is in."""
    path, seconds = cgroup_cpu_file(pid, root, read)
    return seconds(read(path))


def cgroup_memory_bytes(pid: int, root: Path = CGROUP_ROOT) -> int:
    """Memory charged to the cgroup of process ``pid`` (v1 usage_in_bytes, v2 memory.current)."""
    folder = cgroup_dir(pid, "memory", root)
    for name in ("memory.usage_in_bytes", "memory.current"):
        if (folder / name).is_file():
            return int((folder / name).read_text())
    raise ControlError(f"{folder} has no memory usage file")


def cgroup_pids(pid: int, root: Path = CGROUP_ROOT) -> list[int]:
    """Every process in the (memory) cgroup of process ``pid``."""
    text = (cgroup_dir(pid, "memory", root) / "cgroup.procs").read_text()
    return [int(line) for line in text.split()]


def process_memory_bytes(pid: int) -> tuple[int, int]:
    """(PSS, RSS) of process ``pid``: its proportional share of the pages it maps, and all of
    them."""
    rollup = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        key, _, rest = line.partition(":")
        rollup[key] = int(rest.split()[0]) * 1024
    return rollup["Pss"], rollup["Rss"]


def parent_pid(pid: int) -> int:
    return int(_stat_fields(Path(f"/proc/{pid}/stat").read_text())[1])


def process_cpu_seconds(pid: int) -> float:
    """User and system time of process ``pid`` and all its threads."""
    path, seconds = process_cpu_file(pid)
    return seconds(_read_local(path))


@dataclass(frozen=True)
class Memory:
    """Host memory an instance holds, in MiB: ``attributed`` is the issue's figure (the QEMU
    process's PSS; the container's cgroup usage plus its shim's PSS), ``pss`` and ``rss`` are
    over its host processes."""

    attributed: float
    pss: float
    rss: float
