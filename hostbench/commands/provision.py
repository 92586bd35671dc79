"""`fab up` / `fab down`: the stack's environments without the Pulumi CLI, same targets JSON.

`fab up` creates what the resource plan says through the direct backend, waits until every
environment answers SSH with the stack key, and saves the targets where `fab benchmark` finds
them; if anything fails on the way, everything created is removed again.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console

from hostbench.console import untrusted
from hostbench.errors import ConfigError, HostbenchError
from hostbench.image.manifest import load_manifest
from hostbench.paths import private_stack_dir
from hostbench.provision.networks import check_network
from hostbench.provision.plan import (
    BOOT_TIMEOUT_S,
    LOOPBACK,
    NESTED_CONTAINER,
    NO_IMAGE,
    SSH_PORT,
    ResourcePlan,
    VmPlan,
    resource_plan,
    targets_document,
)
from hostbench.reach.ssh import StackAccess, wait_for_ssh
from hostbench.run.firewall import remove_tagged_rules, rule_tag
from hostbench.signals import cleanup
from hostbench.stack.claims import check_claims
from hostbench.stack.keys import ensure_stack_key, known_hosts_file
from hostbench.stack.lock import stack_lock
from hostbench.stack.spec import StackSpec
from hostbench.stack.targets import SSH_USER, Targets, saved_targets_file

if TYPE_CHECKING:
    from hostbench.provision.direct import DirectBackend

console = Console(stderr=True)
CONTAINER_SSH_TIMEOUT_S = 120


def plan_for(spec: StackSpec, teardown: bool = False) -> ResourcePlan:
    """The stack's resource plan; teardown needs only the names, so a missing image does not
    stop it."""
    try:
        image = load_manifest(Path(spec.image_manifest))
    except ConfigError:
        if not teardown:
            raise
        image = NO_IMAGE
    return resource_plan(spec, image)


def save_targets(targets: Targets) -> None:
    """The targets hold the private key: the file is 0600 in a 0700 directory."""
    path = saved_targets_file(targets.stack)
    private_stack_dir(targets.stack)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # a file that was there keeps its mode through O_CREAT
    with os.fdopen(fd, "w") as f:
        f.write(targets.to_json())


def up(spec: StackSpec) -> Targets:
    """Create every environment, wait until each answers SSH, save and return the targets."""
    with stack_lock(spec.stack, f"fab up --stack {spec.stack}"):
        return _up(spec)


def _up(spec: StackSpec) -> Targets:
    from hostbench.provision.direct import DirectBackend  # the engines' clients, loaded to use

    check_claims(spec)
    plan = plan_for(spec)
    key = ensure_stack_key(spec.stack)
    backend = DirectBackend(plan)
    existing = backend.existing()
    if existing:
        raise HostbenchError(f"stack {spec.stack} is already (partly) up: {', '.join(existing)}; "
                             "run `fab down` first")
    if plan.vms:
        check_network(spec, plan.network)
    if spec.host is not None:
        send_image(plan)
    # new environments have new host keys: each is pinned when `up` first reaches it
    known_hosts_file(spec.stack).unlink(missing_ok=True)
    access = StackAccess(key.private_openssh, known_hosts_file(spec.stack), spec.machine)
    start = time.monotonic()
    gateways, addresses = {}, {}
    try:
        for ctr in plan.containers:
            with console.status(f"creating container {ctr.name}"):
                gateways[ctr.env.name] = backend.create_container(ctr, key.public_openssh)
                wait_for_ssh(LOOPBACK, ctr.ssh_port, SSH_USER, access,
                             CONTAINER_SSH_TIMEOUT_S, f"container {ctr.name}")
            console.print(f"[green]up[/] container {ctr.name} (cores {ctr.cpuset}, "
                          f"{ctr.memory_mib} MiB, ssh {LOOPBACK}:{ctr.ssh_port})")
        for vm in plan.vms:
            with console.status(f"creating VM {vm.domain}") as status:
                addresses[vm.env.name] = _boot(backend, vm, key.public_openssh, access,
                                               status.update)
            inside = (f", its workloads in container {NESTED_CONTAINER} inside (ssh "
                      f"{LOOPBACK}:{vm.nested.ssh_port} there)" if vm.nested else "")
            console.print(f"[green]up[/] VM {vm.domain} ({spec.accel}, {vm.vcpus} vCPU pinned to "
                          f"{spec.cpuset}, {vm.memory_mib} MiB, ssh {addresses[vm.env.name]}"
                          f"{inside}) after {time.monotonic() - start:.0f}s")
    except BaseException:
        console.print("[red]bringing the stack up failed; removing what was created[/]")
        with cleanup():
            try:
                remove_stack(spec)
            except HostbenchError as exc:  # the failure that stopped `up` is the one to report
                console.print(untrusted(str(exc), "red"), soft_wrap=True)
        raise
    targets = targets_document(plan, key.private_openssh, addresses, gateways)
    save_targets(targets)
    console.print(f"targets saved to {saved_targets_file(spec.stack)}")
    return targets


def send_image(plan: ResourcePlan) -> list[str]:
    """The image's artifacts on the stack's remote host (what `fab up` does first, and what
    `fab deliver` does before `pulumi up`); returns what had to be sent."""
    from hostbench.provision.deliver import deliver

    label = plan.host.open().label
    with console.status(f"delivering the image to {label}") as status:
        sent = deliver(plan, status.update)
    console.print(f"image on {label}: "
                  f"{'sent ' + ', '.join(sent) if sent else 'already there (nothing sent)'}")
    return sent


def deliver_to_host(spec: StackSpec) -> list[str]:
    """`fab deliver`."""
    if spec.host is None:
        raise HostbenchError(f"stack {spec.stack} names no host: its image is already here")
    return send_image(plan_for(spec))


def _boot(backend: DirectBackend, vm: VmPlan, public_key: str, access: StackAccess,
          status: Callable[[str], None]) -> str:
    """Create the VM and wait until it answers SSH; returns its address."""
    def show(msg: str) -> None:
        status(f"VM {vm.domain} ({backend.plan.accel}): {msg}")

    domain = backend.create_vm(vm, public_key, show)
    address = backend.vm_address(domain, BOOT_TIMEOUT_S, show)
    wait_for_ssh(address, SSH_PORT, SSH_USER, access, BOOT_TIMEOUT_S, f"VM {vm.domain}",
                 on_wait=lambda e: show(f"waiting for SSH ({e})"),
                 still_alive=lambda: bool(domain.isActive()))
    if vm.nested is not None:  # the guest starts its Docker engine and the container at boot
        wait_for_ssh(LOOPBACK, vm.nested.ssh_port, SSH_USER, access, BOOT_TIMEOUT_S,
                     f"the container inside VM {vm.domain}",
                     on_wait=lambda e: show(f"waiting for the container inside ({e})"),
                     still_alive=lambda: bool(domain.isActive()), via=(address, SSH_PORT))
    return address


def down(spec: StackSpec, purge_image: bool = False) -> list[str]:
    """Remove everything of the stack (with ``purge_image``, also the image's copy on a remote
    host); returns what was removed."""
    with stack_lock(spec.stack, f"fab down --stack {spec.stack}"):
        removed = remove_stack(spec)
        if purge_image and spec.host is not None:
            plan = plan_for(spec, teardown=True)
            if plan.image.hash:
                from hostbench.provision.deliver import remove_image_copy

                with console.status("removing the image's copy") as status:
                    gone = remove_image_copy(plan, status.update)
                for what in gone:
                    console.print(f"[green]removed[/] {what}")
                removed += gone
        return removed


def remove_stack(spec: StackSpec) -> list[str]:
    """Everything of the stack removed, as `fab down` does (the caller holds the stack's lock);
    returns what was removed, and raises naming what could not be."""
    from hostbench.provision.direct import DirectBackend

    backend = DirectBackend(plan_for(spec, teardown=True))
    with console.status("removing the stack") as status:
        removed, problems = backend.destroy(lambda what: status.update(f"removing {what}"))
    if remove_tagged_rules(rule_tag(spec.stack), spec.machine):
        removed.append("the firewall rules a killed run left")
    for what in removed:
        console.print(f"[green]removed[/] {what}")
    if problems:
        raise HostbenchError(f"stack {spec.stack} is not fully removed; still there: "
                             f"{'; '.join(problems)}. Run `fab down --stack {spec.stack}` again "
                             "once that is mended")
    known_hosts_file(spec.stack).unlink(missing_ok=True)
    saved_targets_file(spec.stack).unlink(missing_ok=True)
    return removed
