"""`fab up` / `fab down`: the stack's VM and container without the Pulumi CLI, same targets JSON."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from rich.console import Console

from hostbench.errors import HostbenchError
from hostbench.image.manifest import load_manifest
from hostbench.provision import docker_container, libvirt_vm
from hostbench.remote import wait_for_ssh
from hostbench.spec import StackSpec
from hostbench.sshkeys import ensure_stack_key
from hostbench.target_source import saved_targets_file
from hostbench.targets import SSH_USER, image_output, spec_output, targets_output

console = Console(stderr=True)
BOOT_TIMEOUT = 900.0  # a TCG guest needs 25-75 s here; slower hosts get room


def _save(document: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # holds the private key
    with os.fdopen(fd, "w") as f:
        json.dump(document, f, indent=2)


def wait_for_container_ssh(spec: StackSpec, timeout: float = 120) -> None:
    key = ensure_stack_key(spec.stack)
    wait_for_ssh("127.0.0.1", spec.ssh_port, SSH_USER, key.private_openssh, timeout,
                 f"container {spec.resource_prefix}")


def up(spec: StackSpec) -> dict[str, Any]:
    """Create container and VM, wait until both answer SSH, save and return the targets."""
    manifest = load_manifest(spec.image_manifest)
    key = ensure_stack_key(spec.stack)
    dc, conn = docker_container.client(), libvirt_vm.connect()
    leftovers = libvirt_vm.exists(conn, spec)
    if docker_container.find(dc, spec) is not None:
        leftovers.append(f"container {spec.resource_prefix}")
    if leftovers:
        raise HostbenchError(f"stack {spec.stack} is already (partly) up: {', '.join(leftovers)}; "
                             "run `fab down` first")
    start = time.monotonic()
    try:
        with console.status("creating container"):
            container = docker_container.create(dc, spec, manifest, key.public_openssh)
            wait_for_container_ssh(spec)
        console.print(f"[green]up[/] container {container.name} (cores {spec.cpuset}, "
                      f"{spec.memory_mib} MiB, ssh 127.0.0.1:{spec.ssh_port})")
        with console.status("creating VM") as status:
            def show(msg: str) -> None:
                status.update(f"VM ({spec.accel}): {msg}")
            domain = libvirt_vm.create(conn, spec, manifest, key.public_openssh, show)
            address = libvirt_vm.wait_for_lease(conn, spec, domain, BOOT_TIMEOUT, show)
            wait_for_ssh(address, 22, SSH_USER, key.private_openssh, BOOT_TIMEOUT,
                         f"VM {domain.name()}", on_wait=lambda e: show(f"waiting for SSH ({e})"),
                         still_alive=lambda: bool(domain.isActive()))
        console.print(f"[green]up[/] VM {domain.name()} ({spec.accel}, {spec.vcpus} vCPU pinned to "
                      f"{spec.cpuset}, {spec.memory_mib} MiB, ssh {address}) "
                      f"after {time.monotonic() - start:.0f}s")
    except BaseException:
        console.print("[red]bringing the stack up failed; removing what was created[/]")
        down(spec)
        raise
    document = {
        "stack": spec.stack, "spec": spec_output(spec),
        "image": image_output(manifest, str(spec.image_manifest)),
        "targets": targets_output(spec, manifest, address, domain.name(), container.name,
                                  docker_container.gateway(container)),
        "ssh_private_key": key.private_openssh,
    }
    path = saved_targets_file(spec.stack)
    _save(document, path)
    console.print(f"targets saved to {path}")
    return document


def down(spec: StackSpec) -> list[str]:
    """Remove everything of the stack; returns what was removed."""
    removed: list[str] = []
    if docker_container.destroy(docker_container.client(), spec):
        removed.append(f"container {spec.resource_prefix}")
    with console.status("removing VM") as status:
        libvirt_vm.destroy(libvirt_vm.connect(), spec,
                           lambda what: (removed.append(what), status.update(f"removing {what}")))
    saved_targets_file(spec.stack).unlink(missing_ok=True)
    for what in removed:
        console.print(f"[green]removed[/] {what}")
    return removed
