"""Start dockerd, virtlogd and libvirtd on hosts without an init system that runs them, and give
the Docker engine the container runtimes the stacks use."""

from __future__ import annotations

import grp
import os
import shutil
import stat
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from hostbench.errors import HostbenchError
from hostbench.polling import wait_until
from hostbench.provision.runtimes import register_runsc

LOG_DIR = Path("/var/log")


@dataclass(frozen=True)
class Daemon:
    name: str
    command: tuple[str, ...]
    ready_check: tuple[str, ...]


DAEMONS = (
    Daemon("dockerd", ("dockerd",), ("docker", "info", "--format", "{{.ServerVersion}}")),
    Daemon("virtlogd", ("virtlogd",), ("pgrep", "-x", "virtlogd")),
    Daemon("libvirtd", ("libvirtd",), ("virsh", "-c", "qemu:///system", "version")),
)


class DaemonError(RuntimeError):
    pass


def systemd_runs_services() -> bool:
    return Path("/run/systemd/system").is_dir()


def _ready(daemon: Daemon) -> bool:
    return subprocess.run(daemon.ready_check, capture_output=True).returncode == 0


def _running(daemon: Daemon) -> bool:
    return subprocess.run(["pgrep", "-x", daemon.name], capture_output=True).returncode == 0


def ensure(daemon: Daemon, timeout: float = 60.0) -> str:
    """Start `daemon` unless it already runs; wait until it answers. Returns what was done."""
    if shutil.which(daemon.command[0]) is None:
        raise DaemonError(f"{daemon.name} is not installed: run scripts/setup")
    if _running(daemon) and _ready(daemon):
        return "already running"
    if not _running(daemon):
        log = open(LOG_DIR / f"hostbench-{daemon.name}.log", "ab")  # noqa: SIM115 (daemon keeps it)
        subprocess.Popen(daemon.command, stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                         start_new_session=True)
    if wait_until(lambda: _ready(daemon), timeout, 0.5):
        return "started"
    raise DaemonError(
        f"{daemon.name} did not become ready within {timeout:.0f}s; "
        f"see {LOG_DIR / f'hostbench-{daemon.name}.log'}"
    )


def kvm_device_access(device: Path = Path("/dev/kvm"), group: str = "kvm") -> str:
    """Give the KVM device the group and mode udev gives it (root:kvm, group read-write) where
    no udev ran. QEMU runs as a member of that group: if it cannot open the device, libvirt
    finds KVM "not available now" after probing QEMU with it and probes again on every call
    (30-70 s for each VM it defines or starts), even for TCG domains."""
    if not device.exists():
        return "no KVM device"
    try:
        gid = grp.getgrnam(group).gr_gid
    except KeyError:
        return f"no group {group} (QEMU's group): left as it is"
    info = device.stat()
    if info.st_gid == gid and info.st_mode & stat.S_IRWXG == stat.S_IRGRP | stat.S_IWGRP:
        return f"{device} already group {group}, read-write"
    os.chown(device, -1, gid)
    os.chmod(device, stat.S_IMODE(info.st_mode) | stat.S_IRGRP | stat.S_IWGRP)
    return f"{device} set to group {group}, read-write (as udev would)"


def ensure_all() -> None:
    under_systemd = systemd_runs_services()
    print(f"[setup] kvm device: {kvm_device_access()}")
    for daemon in DAEMONS:
        if under_systemd:
            state = "ready" if _ready(daemon) else "NOT ready (systemctl start it)"
            print(f"[setup] {daemon.name}: managed by systemd, {state}")
        else:
            print(f"[setup] {daemon.name}: {ensure(daemon)}")
    print(f"[setup] docker runtimes: {register_runsc(under_systemd)}")


def main(argv: list[str]) -> int:
    if argv != ["ensure"]:
        print("usage: python -m hostbench.provision.daemons ensure", file=sys.stderr)
        return 2
    try:
        ensure_all()
    except (DaemonError, HostbenchError) as exc:
        print(f"[setup] error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
