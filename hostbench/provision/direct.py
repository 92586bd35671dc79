"""The direct backend of `fab up` / `fab down`: the resource plan created and removed through
the Docker and libvirt APIs, for hosts without the Pulumi CLI."""

from __future__ import annotations

import docker
from libvirt import virConnect, virDomain, virStoragePool

from hostbench.console import Show
from hostbench.errors import HostbenchError
from hostbench.provision import docker_backend, libvirt_backend
from hostbench.provision.plan import ContainerPlan, ResourcePlan, VmPlan


class DirectBackend:
    """One stack's containers and VMs on its host's Docker engine and libvirtd."""

    def __init__(self, plan: ResourcePlan) -> None:
        self.plan = plan
        self.host = plan.host.open()
        self._docker: docker.DockerClient | None = None
        self._libvirt: virConnect | None = None
        self._pool: virStoragePool | None = None

    @property
    def docker(self) -> docker.DockerClient:
        if self._docker is None:
            self._docker = docker_backend.client(self.host)
        return self._docker

    @property
    def libvirt(self) -> virConnect:
        if self._libvirt is None:
            self._libvirt = libvirt_backend.connect(self.plan.libvirt_uri)
        return self._libvirt

    def existing(self) -> list[str]:
        """What of the stack exists already (a stack is brought up from nothing)."""
        found = [f"container {c.name}"
                 for c in docker_backend.stack_containers(self.docker, self.plan)]
        if self.plan.vms:
            found += libvirt_backend.exists(self.libvirt, self.plan)
        return found

    def create_container(self, ctr: ContainerPlan, public_key: str) -> str:
        """Create and start the container; returns the host's address as seen from inside."""
        return docker_backend.gateway(docker_backend.create(self.docker, self.host, ctr,
                                                               public_key))

    def create_network(self) -> None:
        libvirt_backend.create_network(self.libvirt, self.plan)

    def create_pool(self) -> None:
        self._pool = libvirt_backend.create_pool(self.libvirt, self.plan)

    def import_image(self) -> None:
        """The image's disk, kernel and initrd into the stack's pool (created before)."""
        libvirt_backend.import_image(self.libvirt, self.pool(), self.plan)

    def pool(self) -> virStoragePool:
        """The stack's storage pool (created before)."""
        if self._pool is None:
            self._pool = self.libvirt.storagePoolLookupByName(self.plan.pool)
        return self._pool

    def create_vm(self, vm: VmPlan, public_key: str, show: Show) -> virDomain:
        if self._pool is None:
            self._pool = libvirt_backend.create_shared(self.libvirt, self.plan, show)
        return libvirt_backend.create_vm(self.libvirt, self._pool, self.plan, vm, public_key,
                                         show)

    def vm_address(self, domain: virDomain, timeout: float, show: Show) -> str:
        return libvirt_backend.wait_for_lease(self.libvirt, self.plan, domain, timeout, show)

    def destroy(self, show: Show) -> tuple[list[str], list[str]]:
        """Remove everything of the stack that can be reached, one engine not stopping the
        other; returns what was removed and what could not be (with why)."""
        removed: list[str] = []
        problems: list[str] = []
        try:
            removed += [f"container {name}"
                        for name in docker_backend.destroy(self.docker, self.host, self.plan)]
        except HostbenchError as exc:
            problems.append(f"containers {', '.join(c.name for c in self.plan.containers)} "
                            f"(and their scratch directories): {exc}")
        try:
            gone, failed = libvirt_backend.destroy(self.libvirt, self.plan, show)
            removed += gone
            problems += failed
        except HostbenchError as exc:
            problems.append(f"the VMs, pool and network of stack {self.plan.stack}: {exc}")
        return removed, problems
