"""What a stack holds on its host (container SSH ports, the VMs' network), checked against
every other stack that is up there, so that `fab up` never shares them. Cores may be shared
(a 2-core host has one core to measure on): measuring takes them (``lock.cores_lock``)."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from pathlib import Path

from hostbench.errors import HostbenchError
from hostbench.paths import state_dir
from hostbench.stack.environments import Kind
from hostbench.stack.spec import StackSpec
from hostbench.stack.targets import Targets, load_targets_file


def _ports(spec: StackSpec) -> range:
    """The containers' SSH ports: one each, from ``ssh_port`` on."""
    containers = sum(1 for e in spec.environments if e.kind is Kind.CONTAINER)
    return range(spec.ssh_port, spec.ssh_port + containers)


def _has_vms(spec: StackSpec) -> bool:
    return any(e.kind is Kind.VM for e in spec.environments)


def _shared(mine: StackSpec, theirs: StackSpec) -> str | None:
    """What both stacks claim, in words, or None."""
    if ports := sorted(set(_ports(mine)) & set(_ports(theirs))):
        return f"SSH ports {', '.join(map(str, ports))}"
    if _has_vms(mine) and _has_vms(theirs) and ipaddress.ip_network(mine.network_cidr).overlaps(
            ipaddress.ip_network(theirs.network_cidr)):
        return f"the VM network {mine.network_cidr}"
    return None


def _stacks_up(spec: StackSpec) -> Iterator[tuple[Targets, Path]]:
    """The other stacks `fab up` saved targets for on the same host, with their files."""
    for saved in sorted((state_dir() / "stacks").glob("*/targets.json")):
        targets = load_targets_file(saved)
        if targets.stack != spec.stack and targets.spec.host == spec.host:
            yield targets, saved


def check_claims(spec: StackSpec) -> None:
    """Refuse ``spec`` when a stack that is up on its host holds any of what it claims."""
    for other, saved in _stacks_up(spec):
        if claim := _shared(spec, other.spec):
            raise HostbenchError(
                f"stack {spec.stack} ({spec.source}) claims {claim}, which stack {other.stack} "
                f"holds (it is up: {saved}); bring {other.stack} down or change {spec.stack}")
