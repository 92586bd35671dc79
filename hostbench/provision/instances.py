"""One VM or container of a stack as a unit that is created, started, found, metered and removed
on its own, through the same backend calls as `fab up`: what `fab lifecycle` times step by step."""

from __future__ import annotations

import socket
from pathlib import Path

import libvirt
from docker.models.containers import Container

from hostbench.errors import HostbenchError
from hostbench.provision import docker_backend, libvirt_backend
from hostbench.provision.control import QEMU_PID_DIR
from hostbench.provision.direct import DirectBackend
from hostbench.provision.docker_backend import ENGINE_ERRORS
from hostbench.provision.metering import (
    Memory,
    cgroup_cpu_seconds,
    cgroup_memory_bytes,
    cgroup_pids,
    parent_pid,
    process_cpu_seconds,
    process_memory_bytes,
)
from hostbench.provision.plan import (
    LOOPBACK,
    SSH_PORT,
    ContainerPlan,
    Environment,
    Kind,
    VmPlan,
    extra_container,
    extra_vm,
)

MIB = 1024 * 1024


class VmInstance:
    """A domain of the stack with its own root volume and seed."""

    def __init__(self, backend: DirectBackend, vm: VmPlan, public_key: str) -> None:
        self.backend, self.vm, self.public_key = backend, vm, public_key
        self._xml = ""
        self._domain: libvirt.virDomain | None = None

    @property
    def name(self) -> str:
        return self.vm.domain

    @property
    def env(self) -> Environment:
        return self.vm.env

    def create(self) -> None:
        """Root volume (an overlay on the imported image, or a raw copy) and seed."""
        self._xml = libvirt_backend.prepare_vm(self.backend.libvirt, self.backend.pool(),
                                               self.backend.plan, self.vm, self.public_key)

    def start(self) -> None:
        self._domain = libvirt_backend.start_vm(self.backend.libvirt, self._xml)

    def endpoint(self) -> tuple[str, int] | None:
        """Its SSH address once its DHCP lease is there."""
        assert self._domain is not None, "start() first"
        address = libvirt_backend.lease(self.backend.libvirt, self.backend.plan, self._domain)
        return None if address is None else (address, SSH_PORT)

    def _pid(self) -> int:
        return int((QEMU_PID_DIR / f"{self.name}.pid").read_text())

    def memory(self) -> Memory:
        pss, rss = process_memory_bytes(self._pid())
        return Memory(pss / MIB, pss / MIB, rss / MIB)

    def cpu_seconds(self) -> float:
        return process_cpu_seconds(self._pid())

    def disk_mib(self) -> float:
        """Host disk its own volumes take (allocated, not their virtual size)."""
        pool = self.backend.pool()
        pool.refresh(0)
        return sum(pool.storageVolLookupByName(name).info()[2]
                   for name in (self.vm.root.name, self.vm.seed)) / MIB

    def remove(self) -> None:
        libvirt_backend.remove_vm(self.backend.libvirt, self.backend.pool(), self.vm)


class ContainerInstance:
    """A container of the stack with its own name and SSH port."""

    def __init__(self, backend: DirectBackend, ctr: ContainerPlan, public_key: str) -> None:
        self.backend, self.ctr, self.public_key = backend, ctr, public_key
        self._container: Container | None = None

    @property
    def name(self) -> str:
        return self.ctr.name

    @property
    def env(self) -> Environment:
        return self.ctr.env

    @property
    def container(self) -> Container:
        assert self._container is not None, "create() first"
        return self._container

    def create(self) -> None:
        self._container = docker_backend.create_stopped(
            self.backend.docker, self.backend.host, self.ctr, self.public_key)

    def start(self) -> None:
        docker_backend.start(self.container, self.ctr)

    def endpoint(self) -> tuple[str, int] | None:
        """Its published SSH port once the container has its address on its network."""
        self.container.reload()
        if self.container.status != "running":
            raise HostbenchError(f"container {self.name} is {self.container.status}: "
                                 f"docker logs {self.name}")
        known = self.ctr.host_network or self.container.attrs["NetworkSettings"]["IPAddress"]
        return (LOOPBACK, self.ctr.ssh_port) if known else None

    def _pids(self) -> tuple[int, int]:
        """(its init process, the runtime's shim that holds it)."""
        self.container.reload()
        pid = int(self.container.attrs["State"]["Pid"])
        return pid, parent_pid(pid)

    def memory(self) -> Memory:
        pid, shim = self._pids()
        shim_pss, shim_rss = process_memory_bytes(shim)
        pss, rss = shim_pss, shim_rss
        for member in cgroup_pids(pid):
            try:
                p, r = process_memory_bytes(member)
            except FileNotFoundError:  # ended meanwhile
                continue
            pss, rss = pss + p, rss + r
        return Memory((cgroup_memory_bytes(pid) + shim_pss) / MIB, pss / MIB, rss / MIB)

    def cpu_seconds(self) -> float:
        pid, shim = self._pids()
        return cgroup_cpu_seconds(pid) + process_cpu_seconds(shim)

    def disk_mib(self) -> float:
        """Its writable layer and its scratch directory on the host."""
        try:
            found = self.backend.docker.api.containers(all=True, size=True,
                                                       filters={"id": self.container.id})
        except ENGINE_ERRORS as exc:
            raise HostbenchError(f"cannot read the size of container {self.name}: {exc}"
                                 ) from None
        size = found[0] if found else {}
        scratch = self.ctr.scratch_dir
        used = sum(p.stat().st_blocks * 512 for p in Path(scratch).rglob("*")
                   ) if scratch is not None and scratch.is_dir() else 0
        return (int(size.get("SizeRw") or 0) + used) / MIB

    def remove(self) -> None:
        docker_backend.remove(self.backend.docker, self.backend.host, self.ctr)


Instance = VmInstance | ContainerInstance


class StackInstances:
    """The instances `fab lifecycle` creates for a stack, named by its resource plan: each
    environment's own (as `fab up` makes it), and numbered extra ones for density."""

    def __init__(self, backend: DirectBackend, public_key: str) -> None:
        self.backend, self.public_key = backend, public_key

    def _vm(self, env: Environment) -> VmPlan:
        return next(vm for vm in self.backend.plan.vms if vm.env.name == env.name)

    def _container(self, env: Environment) -> ContainerPlan:
        return next(c for c in self.backend.plan.containers if c.env.name == env.name)

    def instance(self, env: Environment) -> Instance:
        """The environment's own instance, as `fab up` creates it."""
        if env.kind is Kind.VM:
            return VmInstance(self.backend, self._vm(env), self.public_key)
        return ContainerInstance(self.backend, self._container(env), self.public_key)

    def extra(self, env: Environment, index: int, memory_mib: int) -> Instance:
        """Extra instance ``index`` of the environment, with ``memory_mib`` of memory."""
        plan = self.backend.plan
        if env.kind is Kind.VM:
            return VmInstance(self.backend, extra_vm(plan, self._vm(env), index, memory_mib),
                              self.public_key)
        return ContainerInstance(self.backend, extra_container(
            plan, self._container(env), index, free_port(), memory_mib), self.public_key)

    def create_network(self) -> None:
        self.backend.create_network()

    def create_pool(self) -> None:
        self.backend.create_pool()

    def import_image(self) -> None:
        self.backend.import_image()

def free_port() -> int:
    """A TCP port on LOOPBACK that nothing listens on now (for an extra container's SSH)."""
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return int(s.getsockname()[1])
