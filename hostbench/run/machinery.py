"""An environment's host-side machinery: the processes on the host that run it (QEMU and its
threads, the container's shim, gVisor's sentry and gofer, the container engine's daemons),
found once per run from the host's process list."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import PurePosixPath

ENGINE_DAEMONS = ("dockerd", "containerd")
"""Host daemons watched around every trial, whatever its environment: the container engine.
(Its docker-proxy port forwarders come and go with other stacks' containers, and carry only
hostbench's SSH: no measured traffic passes a published port.)"""
RUNSC_PARTS = {"runsc-sandbox": "runsc.sentry", "runsc-gofer": "runsc.gofer"}


@dataclass(frozen=True)
class HostProcess:
    pid: int
    ppid: int
    name: str  # the basename of argv[0]; a kernel thread's name in brackets


def process_list(ps_output: str) -> list[HostProcess]:
    """The host's processes from ``ps -e -o pid=,ppid=,args=``."""
    found = []
    for line in ps_output.splitlines():
        parts = line.split(None, 2)
        if len(parts) < 3 or not (parts[0].isdigit() and parts[1].isdigit()):
            continue
        args = parts[2]
        name = args if args.startswith("[") else PurePosixPath(args.split()[0]).name
        found.append(HostProcess(int(parts[0]), int(parts[1]), name))
    return found


@dataclass(frozen=True)
class Machinery:
    """What to read around a trial: processes by group (their whole CPU time) and the QEMU
    process whose threads are split."""

    processes: dict[str, tuple[int, ...]] = field(default_factory=dict)
    qemu: int | None = None


def engine_daemons(processes: list[HostProcess]) -> dict[str, tuple[int, ...]]:
    return {name: pids for name in ENGINE_DAEMONS
            if (pids := tuple(p.pid for p in processes if p.name == name))}


def vm_machinery(processes: list[HostProcess], qemu_pid: int) -> Machinery:
    """A VM's QEMU process (split by thread when read) and its vhost kernel threads."""
    groups = {**engine_daemons(processes), "qemu": (qemu_pid,)}
    vhost = tuple(p.pid for p in processes if p.name == f"[vhost-{qemu_pid}]")
    if vhost:
        groups["vhost"] = vhost
    return Machinery(groups, qemu=qemu_pid)


def container_machinery(processes: list[HostProcess], main_pid: int) -> Machinery:
    """A container's shim (the parent of its first process), gVisor's sentry and gofer where
    they run under it, and its cgroup."""
    by_pid = {p.pid: p for p in processes}
    groups = engine_daemons(processes)
    main = by_pid.get(main_pid)
    if main is not None and main.ppid in by_pid:
        shim = by_pid[main.ppid]
        groups["shim"] = (shim.pid,)
        for child in (p for p in processes if p.ppid == shim.pid):
            part = RUNSC_PARTS.get(child.name)
            if part:
                groups[part] = (*groups.get(part, ()), child.pid)
    return Machinery(groups)


def thread_group(name: str, tid: int, pid: int) -> str:
    """Which part of QEMU a thread is: a vCPU ("CPU 0/TCG", "CPU 1/KVM"), the main loop (the
    thread that is the process), or the rest (I/O threads, workers, RCU)."""
    if name.startswith("CPU ") and "/" in name:
        return "qemu.vcpu"
    return "qemu.main" if tid == pid else "qemu.other"
