"""Pausing, resuming and metering a stack's VMs and containers on the host (Docker, libvirt):
what keeps idle neighbours off the pinned cores while another environment is measured. The
Docker and libvirt clients are loaded by the first call that needs one."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from hostbench.errors import ControlError
from hostbench.provision.metering import CpuTimeFile, cgroup_cpu_file, process_cpu_file
from hostbench.stack.environments import Kind
from hostbench.stack.host import Host, LocalHost
from hostbench.stack.targets import Target

if TYPE_CHECKING:
    import docker
    import libvirt
    from docker.models.containers import Container

QEMU_PID_DIR = Path("/run/libvirt/qemu")


def vm_cpu_quota(params: Mapping[str, int], vcpus: int) -> str:
    """A domain's CPU bandwidth from libvirt's scheduler parameters, as a cgroup quota
    ("quota period" for the whole domain; "-1 period" unlimited, "" unknown): the tighter of
    the per-vCPU quota times the vCPUs and the domain's global quota."""
    limits = []
    for quota, period, times in (("vcpu_quota", "vcpu_period", vcpus),
                                 ("global_quota", "global_period", 1)):
        if quota in params and params.get(period):
            q = params[quota]
            if 0 < q < 2**62:  # -1 (or 0, or 2^64-1 in older libvirt) means no limit
                limits.append(q * times / params[period])
            else:
                limits.append(float("inf"))
    if not limits:
        return ""
    tightest = min(limits)
    return "-1 100000" if tightest == float("inf") else f"{round(tightest * 100000)} 100000"


def _errors() -> tuple[type[Exception], ...]:
    """What libvirt and the Docker engine raise, loaded with their clients."""
    import libvirt

    from hostbench.provision.docker_backend import ENGINE_ERRORS

    return (libvirt.libvirtError, *ENGINE_ERRORS)


class EnvironmentControl:
    """The stack's VMs (by domain) and containers (by name) on their host."""

    def __init__(self, targets: Mapping[str, Target], host: Host | None = None) -> None:
        self.targets = {n: t for n, t in targets.items() if t.kind is not Kind.BARE}
        self.host = host or LocalHost()
        self.libvirt_uri = self.host.libvirt_uri
        self._docker: docker.DockerClient | None = None
        self._cpu_files: dict[str, CpuTimeFile] = {}
        self._libvirt: libvirt.virConnect | None = None

    def names(self) -> list[str]:
        return list(self.targets)

    def _engine(self) -> docker.DockerClient:
        from hostbench.provision import docker_backend

        if self._docker is None:
            self._docker = docker_backend.client(self.host)
        return self._docker

    def _container(self, name: str) -> Container:
        from hostbench.provision.docker_backend import ENGINE_ERRORS

        try:
            return self._engine().containers.get(self.targets[name].container or "")
        except ENGINE_ERRORS as exc:
            raise ControlError(f"{name}: {exc}") from None

    def _hypervisor(self) -> libvirt.virConnect:
        from hostbench.provision import libvirt_backend

        if self._libvirt is None or not self._libvirt.isAlive():  # libvirtd may have restarted
            self._libvirt = libvirt_backend.connect(self.libvirt_uri)
        return self._libvirt

    def _domain(self, name: str) -> libvirt.virDomain:
        import libvirt

        try:
            return self._hypervisor().lookupByName(self.targets[name].domain or "")
        except libvirt.libvirtError as exc:
            raise ControlError(f"{name}: {exc}") from None

    def paused_now(self) -> set[str]:
        """The stack's VMs and containers paused now, whoever paused them: one question to
        libvirt and one to Docker, however many there are."""
        import libvirt

        by_domain = {t.domain: n for n, t in self.targets.items() if t.kind is Kind.VM}
        by_container = {f"/{t.container}": n for n, t in self.targets.items()
                        if t.kind is not Kind.VM}
        found = set()
        try:
            if by_domain:
                found |= {by_domain[d.name()] for d in self._hypervisor().listAllDomains(
                    libvirt.VIR_CONNECT_LIST_DOMAINS_PAUSED) if d.name() in by_domain}
            if by_container:
                found |= {by_container[name] for c in self._engine().api.containers(
                    filters={"status": "paused"}) for name in c.get("Names") or ()
                    if name in by_container}
        except _errors() as exc:
            raise ControlError(f"cannot tell which environments are paused: {exc}") from None
        return found

    def pause(self, name: str) -> None:
        try:
            if self.targets[name].kind is Kind.VM:
                self._domain(name).suspend()
            else:  # by name: one call to the engine, no look-up first
                self._engine().api.pause(self.targets[name].container or "")
        except _errors() as exc:
            raise ControlError(f"cannot pause {name}: {exc}") from None

    def resume(self, name: str) -> None:
        import libvirt

        try:
            if self.targets[name].kind is Kind.VM:
                domain = self._domain(name)
                if domain.state()[0] == libvirt.VIR_DOMAIN_PAUSED:
                    domain.resume()
            else:
                container = self._container(name)  # its state as the engine has it now
                if container.status == "paused":
                    container.unpause()
        except _errors() as exc:
            raise ControlError(f"cannot resume {name}: {exc}") from None

    def cpu_quota(self, name: str) -> str:
        """The CPU bandwidth the host gives a VM (libvirt's cgroup quota); "" for a container,
        which shows its own from inside, and where libvirt does not say."""
        import libvirt

        target = self.targets[name]
        if target.kind is not Kind.VM:
            return ""
        try:
            return vm_cpu_quota(self._domain(name).schedulerParameters(), len(target.cores))
        except libvirt.libvirtError as exc:
            raise ControlError(f"cannot read the CPU quota of {name}: {exc}") from None

    def main_pid(self, name: str) -> int:
        """The host PID of a VM's QEMU process, or of a container's first process."""
        try:
            if self.targets[name].kind is Kind.VM:
                domain = self.targets[name].domain
                return int(self.host.read_text(str(QEMU_PID_DIR / f"{domain}.pid")))
            return int(self._container(name).attrs["State"]["Pid"])
        except (OSError, ValueError, KeyError) as exc:
            raise ControlError(f"cannot find the host process of {name}: {exc}") from None

    def cpu_file(self, name: str) -> CpuTimeFile:
        """Where the environment's host CPU time is: its QEMU process, its container's cgroup."""
        pid = self.main_pid(name)
        if self.targets[name].kind is Kind.VM:
            return process_cpu_file(pid)
        return cgroup_cpu_file(pid, read=self.host.read_text)

    def cpu_seconds(self, name: str) -> float:
        """Host CPU time the environment has used so far (its QEMU process, its cgroup)."""
        try:
            if name not in self._cpu_files:
                self._cpu_files[name] = self.cpu_file(name)
            path, seconds = self._cpu_files[name]
            return seconds(self.host.read_text(path))
        except (OSError, ValueError, StopIteration) as exc:
            raise ControlError(f"cannot read the CPU time of {name}: {exc}") from None
