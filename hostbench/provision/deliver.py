"""The image's artifacts on a remote host, delivered when missing there and checked by content
hash, so that a second `fab up` transfers nothing: the tree for bare metal and host-side servers
(tar over SSH), the Docker image (saved here, loaded into the host's engine) and the VM's disk,
kernel and initrd (libvirt volume uploads into an image pool the host keeps)."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hostbench.console import Show
from hostbench.errors import HostbenchError
from hostbench.provision import libvirt_backend
from hostbench.provision.domain_xml import pool_xml
from hostbench.provision.plan import COMPLETE, Host, HostLayout, ResourcePlan, image_volumes

if TYPE_CHECKING:
    import libvirt

_UNPACK = ('set -e; r=$1; rm -rf "$r.part"; mkdir -p "$r.part"; '
           'tar -C "$r.part" --numeric-owner -xpf -; rm -rf "$r"; '
           'mv "$r.part" "$r"; printf "%s\\n" "$3" > "$2"')


class DeliveryError(HostbenchError):
    pass


def layout(plan: ResourcePlan) -> HostLayout:
    """Where the stack's remote host keeps hostbench's things."""
    if plan.remote_layout is None:
        raise DeliveryError(f"stack {plan.stack} has no remote host to deliver to")
    return plan.remote_layout


def deliver(plan: ResourcePlan, show: Show) -> list[str]:
    """Every artifact the stack needs on its (remote) host; returns what had to be sent."""
    import docker  # the Docker SDK only where an image is delivered

    if not plan.host.remote:
        return []
    host = plan.host.open()
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
    where = layout(plan)
    try:
        if host.read_text(str(where.complete)).strip() == plan.image.hash:
            return False
    except OSError:
        pass
    show(f"sending the image tree to {host.label}:{where.image_dir}")
    pack = subprocess.Popen(["tar", "-C", plan.image.rootfs, "--numeric-owner", "-cf", "-", "."],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    unpack = subprocess.run(host.argv(["sh", "-c", _UNPACK, "sh", str(where.rootfs),
                                       str(where.complete), plan.image.hash]),
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
    import docker.errors

    from hostbench.provision.docker_backend import ENGINE_ERRORS

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
    name = plan.image_pool
    pool = libvirt_backend.lookup_pool(conn, name)
    if pool is None:
        pool = conn.storagePoolDefineXML(pool_xml(name, layout(plan).vm_volumes), 0)
        pool.build(0)
    if not pool.isActive():
        pool.create(0)
    pool.refresh(0)
    wanted = list(image_volumes(plan).values())
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


def remove_image_copy(plan: ResourcePlan, show: Show) -> list[str]:
    """The host's copies of the image gone: its VM volume pool and its tree."""
    host, where = plan.host.open(), layout(plan)
    removed = []
    conn = libvirt_backend.connect(plan.libvirt_uri)
    pool = libvirt_backend.lookup_pool(conn, plan.image_pool)
    if pool is not None:
        show(f"removing the image pool {plan.image_pool}")
        libvirt_backend.remove_pool(pool)
        removed.append(f"image pool {plan.image_pool}")
    host.output(["rm", "-rf", "--", str(where.image_dir)])
    removed.append(f"image copy {host.label}:{where.image_dir}")
    # and hostbench's directories there, unless another stack's
    remove_empty_dirs(host, list(where.shared_dirs))
    return removed


def remove_empty_dirs(host: Host, directories: list[Path]) -> None:
    """Remove each of ``directories`` that exists and is empty, in order, on ``host``."""
    script = 'for d do [ ! -d "$d" ] || rmdir --ignore-fail-on-non-empty -- "$d" || exit; done'
    host.output(["sh", "-c", script, "sh", *map(str, directories)])
