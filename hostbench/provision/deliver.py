"""The image's artifacts on a remote host, delivered when missing there and checked by content
hash, so that a second `fab up` transfers nothing: the tree for bare metal and host-side servers
(tar over SSH), the Docker image (saved here, loaded into the host's engine) and the VM's disk,
kernel and initrd (libvirt volume uploads into an image pool the host keeps)."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import docker.errors
import libvirt

from hostbench.errors import HostbenchError
from hostbench.provision import libvirt_backend
from hostbench.provision.docker_backend import ENGINE_ERRORS
from hostbench.provision.domain_xml import pool_xml
from hostbench.provision.plan import ResourcePlan, host_image_dir
from hostbench.stack.host import Host

Show = Callable[[str], None]
COMPLETE = "complete"
_UNPACK = ('set -e; d=$1; rm -rf "$d/rootfs.part"; mkdir -p "$d/rootfs.part"; '
           'tar -C "$d/rootfs.part" --numeric-owner -xpf -; rm -rf "$d/rootfs"; '
           'mv "$d/rootfs.part" "$d/rootfs"; printf "%s\\n" "$2" > "$d/' + COMPLETE + '"')


class DeliveryError(HostbenchError):
    pass


def deliver(plan: ResourcePlan, show: Show) -> list[str]:
    """Every artifact the stack needs on its (remote) host; returns what had to be sent."""
    host = plan.spec.machine
    if not host.remote:
        return []
    sent = []
    if deliver_tree(host, plan, show):
        sent.append("image tree")
    if plan.containers and deliver_docker_image(docker.from_env, host.docker(),
                                                plan.image.docker_tag, show):
        sent.append(f"Docker image {plan.image.docker_tag}")
    if plan.vms and deliver_vm_volumes(libvirt_backend.connect(plan.libvirt_uri), plan, show):
        sent.append("VM disk, kernel and initrd")
    return sent


def deliver_tree(host: Host, plan: ResourcePlan, show: Show) -> bool:
    """The image's tree at ``plan.rootfs`` unless the host has it for this image hash."""
    directory = host_image_dir(plan.spec, plan.image.hash)
    try:
        if host.read_text(str(directory / COMPLETE)).strip() == plan.image.hash:
            return False
    except OSError:
        pass
    show(f"sending the image tree to {host.label}:{directory}")
    pack = subprocess.Popen(["tar", "-C", plan.image.rootfs, "--numeric-owner", "-cf", "-", "."],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    unpack = subprocess.run(host.argv(["sh", "-c", _UNPACK, "sh", str(directory),
                                       plan.image.hash]),
                            stdin=pack.stdout, capture_output=True, text=True)
    assert pack.stdout is not None and pack.stderr is not None
    pack.stdout.close()
    packed = pack.wait()
    if packed != 0 or unpack.returncode != 0:
        raise DeliveryError(f"sending the image tree to {host.label} failed: "
                            f"{(unpack.stderr or pack.stderr.read().decode()).strip()[-400:]}")
    return True


def deliver_docker_image(local: Callable[[], Any], remote: Any, tag: str, show: Show) -> bool:
    """The image ``tag`` loaded into the host's engine from this machine's (``local`` makes a
    client of it), unless the host has it: the tag is the image's content hash."""
    try:
        remote.images.get(tag)
        return False
    except docker.errors.ImageNotFound:
        pass
    try:
        image = local().images.get(tag)
    except docker.errors.ImageNotFound:
        raise DeliveryError(f"Docker image {tag} is missing here too: run scripts/build-image"
                            ) from None
    except ENGINE_ERRORS as exc:
        raise DeliveryError(f"the host lacks Docker image {tag}, and this machine's engine, "
                            f"which would send it, does not answer: {exc}") from None
    show(f"loading Docker image {tag} into the host's engine")
    remote.images.load(image.save(named=True))
    if remote.images.get(tag).id != image.id:
        raise DeliveryError(f"Docker image {tag} loaded into the host's engine has another id")
    return True


def deliver_vm_volumes(conn: libvirt.virConnect, plan: ResourcePlan, show: Show) -> bool:
    """The image pool with every volume the stack's VMs clone, uploaded where missing."""
    name = libvirt_backend.image_pool_name(plan)
    pool = libvirt_backend.lookup_pool(conn, name)
    if pool is None:
        pool = conn.storagePoolDefineXML(pool_xml(name, host_image_dir(plan.spec, plan.image.hash)
                                                  / "vm"), 0)
        pool.build(0)
    if not pool.isActive():
        pool.create(0)
    pool.refresh(0)
    wanted = list(libvirt_backend.image_volumes(plan).values())
    have = set(pool.listVolumes())
    if COMPLETE in have and all(v.name in have for v in wanted):
        return False
    for left in have:  # an upload that was cut short, or an image without its raw disk
        pool.storageVolLookupByName(left).delete(0)
    for vol in wanted:
        show(f"uploading {vol.name} to the host's image pool {name}")
        libvirt_backend.upload_image_volume(conn, pool, vol)
    libvirt_backend.upload_bytes(conn, pool, COMPLETE, plan.image.hash.encode())
    return True


def purge(plan: ResourcePlan, show: Show) -> list[str]:
    """The host's copies of the image gone: its VM volume pool and its tree."""
    host = plan.spec.machine
    removed = []
    conn = libvirt_backend.connect(plan.libvirt_uri)
    pool = libvirt_backend.lookup_pool(conn, libvirt_backend.image_pool_name(plan))
    if pool is not None:
        show(f"removing the image pool {libvirt_backend.image_pool_name(plan)}")
        libvirt_backend.remove_pool(pool)
        removed.append(f"image pool {libvirt_backend.image_pool_name(plan)}")
    directory = host_image_dir(plan.spec, plan.image.hash)
    host.output(["rm", "-rf", "--", str(directory)])
    removed.append(f"image copy {host.label}:{directory}")
    root = Path(plan.spec.host_dir)  # and hostbench's directories there, unless another stack's
    remove_empty_dirs(host, [root / "images", root / "scratch", root])
    return removed


def remove_empty_dirs(host: Host, directories: list[Path]) -> None:
    """Remove each of ``directories`` that exists and is empty, in order, on ``host``."""
    script = 'for d do [ ! -d "$d" ] || rmdir --ignore-fail-on-non-empty -- "$d" || exit; done'
    host.output(["sh", "-c", script, "sh", *map(str, directories)])
