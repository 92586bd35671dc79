"""The stack's VMs straight through the libvirt API: network, pool, volumes, seeds, domains."""

from __future__ import annotations

import contextlib
import errno
import functools
import json
import os
import queue
import subprocess
import tempfile
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import libvirt

from hostbench.console import Show
from hostbench.errors import HostbenchError
from hostbench.polling import wait_until
from hostbench.provision.domain_xml import (
    apply_xslt,
    domain_xml,
    network_xml,
    pool_xml,
    volume_xml,
)
from hostbench.provision.plan import (
    ResourcePlan,
    VmPlan,
    VolumePlan,
    image_volumes,
    owner_marker,
)
from hostbench.provision.seed import meta_data, user_data

KEEPALIVE_INTERVAL_S = 5
KEEPALIVE_COUNT = 3
KEEPALIVE_BOUND_S = KEEPALIVE_INTERVAL_S * (KEEPALIVE_COUNT + 1)
"""A libvirtd silent this long is given up on: the call waiting for it fails."""
OPEN_TIMEOUT_S = 30


class LibvirtError(HostbenchError):
    pass


def _quiet(_context: object, _error: object) -> None:
    """libvirt prints every error to stderr; ours are raised or deliberately ignored."""


def _run_events() -> None:
    while True:
        libvirt.virEventRunDefaultImpl()


@functools.cache
def _event_loop() -> None:
    """libvirt's default event loop in a thread of its own (keepalive needs one), started once
    and before the first connection."""
    libvirt.virEventRegisterDefaultImpl()
    threading.Thread(target=_run_events, name="libvirt-events", daemon=True).start()


def _silent(uri: str, what: str) -> LibvirtError:
    return LibvirtError(f"libvirtd at {uri} {what}: is it stopped (kill -STOP) or hung? Resume "
                        "or restart it, then run again")


def connect(uri: str) -> libvirt.virConnect:
    """A connection to libvirtd at ``uri`` whose calls end within KEEPALIVE_BOUND_S when the
    daemon stops answering (opening it, within OPEN_TIMEOUT_S)."""
    libvirt.registerErrorHandler(_quiet, None)
    _event_loop()
    opened: queue.Queue[libvirt.virConnect | libvirt.libvirtError] = queue.Queue(1)

    def open_it() -> None:
        try:
            opened.put(libvirt.open(uri))
        except libvirt.libvirtError as exc:
            opened.put(exc)

    threading.Thread(target=open_it, name="libvirt-open", daemon=True).start()
    try:
        conn = opened.get(timeout=OPEN_TIMEOUT_S)
    except queue.Empty:
        raise _silent(uri, f"did not answer within {OPEN_TIMEOUT_S} s") from None
    if isinstance(conn, libvirt.libvirtError):
        raise LibvirtError(f"cannot connect to libvirtd at {uri}: {conn}; "
                           "is libvirtd running? (scripts/setup starts it)")
    conn.setKeepAlive(KEEPALIVE_INTERVAL_S, KEEPALIVE_COUNT)
    return conn


@contextlib.contextmanager
def answering(conn: libvirt.virConnect, uri: str) -> Iterator[None]:
    """A libvirt error of a connection that keepalive found dead names the silent libvirtd."""
    try:
        yield
    except libvirt.libvirtError:
        if conn.isAlive():
            raise
        raise _silent(uri, f"stopped answering (no keepalive reply for {KEEPALIVE_BOUND_S} s)"
                      ) from None


def _section(_stream: object, fd: int) -> list[Any]:
    """[in data?, length] of the section of ``fd`` at its offset (libvirt's sparse streams)."""
    here = os.lseek(fd, 0, os.SEEK_CUR)
    try:
        data = os.lseek(fd, here, os.SEEK_DATA)
    except OSError as exc:
        if exc.errno != errno.ENXIO:
            raise
        data = -1  # in the trailing hole
    if data < 0:
        section = [False, os.lseek(fd, 0, os.SEEK_END) - here]
    elif data > here:
        section = [False, data - here]
    else:
        section = [True, os.lseek(fd, data, os.SEEK_HOLE) - data]
    os.lseek(fd, here, os.SEEK_SET)
    return section


def _read(_stream: object, nbytes: int, fd: int) -> bytes:
    return os.read(fd, nbytes)


def _skip(_stream: object, length: int, fd: int) -> int:
    os.lseek(fd, length, os.SEEK_CUR)
    return 0


def upload_bytes(conn: libvirt.virConnect, pool: libvirt.virStoragePool, name: str,
                 data: bytes) -> libvirt.virStorageVol:
    """A small raw volume holding ``data``."""
    vol = pool.createXML(volume_xml(name, len(data), "raw"), 0)
    stream = conn.newStream(0)
    vol.upload(stream, 0, len(data), 0)
    stream.send(data)
    stream.finish()
    return vol


def upload_file(conn: libvirt.virConnect, pool: libvirt.virStoragePool, name: str, source: Path,
                fmt: str, capacity: int | None = None) -> libvirt.virStorageVol:
    """A volume with the bytes of ``source``, sent as a sparse stream: the holes of a sparse
    raw disk stay holes and are not read or sent."""
    vol = pool.createXML(volume_xml(name, capacity or source.stat().st_size, fmt), 0)
    stream = conn.newStream(0)
    vol.upload(stream, 0, 0, libvirt.VIR_STORAGE_VOL_UPLOAD_SPARSE_STREAM)
    fd = os.open(source, os.O_RDONLY)
    try:
        stream.sparseSendAll(_read, _section, _skip, fd)
        stream.finish()
    finally:
        os.close(fd)
    return vol


def _qcow2_virtual_size(path: Path) -> int:
    info = json.loads(subprocess.run(["qemu-img", "info", "--output=json", str(path)],
                                     capture_output=True, text=True, check=True).stdout)
    return int(info["virtual-size"])


def _seed_iso(vm: VmPlan, public_key: str, directory: Path) -> Path:
    nested = vm.nested.declaration if vm.nested else None
    (directory / "user-data").write_text(user_data(public_key, nested))
    (directory / "meta-data").write_text(meta_data(vm.domain))
    iso = directory / "seed.iso"
    subprocess.run(["genisoimage", "-quiet", "-output", str(iso), "-volid", "cidata", "-joliet",
                    "-rock", str(directory / "user-data"), str(directory / "meta-data")],
                   check=True, capture_output=True)
    return iso


NOT_FOUND = (libvirt.VIR_ERR_NO_DOMAIN, libvirt.VIR_ERR_NO_NETWORK,
             libvirt.VIR_ERR_NO_STORAGE_POOL)


def lookup_pool(conn: libvirt.virConnect, name: str) -> libvirt.virStoragePool | None:
    return _lookup(conn.storagePoolLookupByName, name)


def _lookup(lookup: Callable[[str], Any], name: str) -> Any:
    """The object called `name`, or None when libvirt has none; other errors propagate."""
    try:
        return lookup(name)
    except libvirt.libvirtError as exc:
        if exc.get_error_code() in NOT_FOUND:
            return None
        raise


def _description(domain: libvirt.virDomain) -> str:
    node = ET.fromstring(domain.XMLDesc(0)).find("description")
    return "" if node is None or node.text is None else node.text


def stack_domains(conn: libvirt.virConnect, plan: ResourcePlan) -> list[libvirt.virDomain]:
    """The stack's domains: those the plan names, and any other that says it belongs to the
    stack (a variant since removed from the stack config)."""
    marker = owner_marker(plan.stack)
    planned = {vm.domain for vm in plan.vms}
    return [d for d in conn.listAllDomains(0)
            if d.name() in planned or _description(d).startswith(marker)]


def exists(conn: libvirt.virConnect, plan: ResourcePlan) -> list[str]:
    """This stack's libvirt objects that exist now."""
    with answering(conn, plan.libvirt_uri):
        found = [f"domain {d.name()}" for d in stack_domains(conn, plan)]
        for kind, lookup in (("network", conn.networkLookupByName),
                             ("pool", conn.storagePoolLookupByName)):
            if _lookup(lookup, plan.pool) is not None:
                found.append(f"{kind} {plan.pool}")
    return found


def create_network(conn: libvirt.virConnect, plan: ResourcePlan) -> None:
    """The NAT network the stack's VMs share, started."""
    network = conn.networkDefineXML(network_xml(plan.network))
    network.create()


def create_pool(conn: libvirt.virConnect, plan: ResourcePlan) -> libvirt.virStoragePool:
    """The stack's storage pool, built and started (empty)."""
    pool = conn.storagePoolDefineXML(pool_xml(plan.pool, plan.pool_path), 0)
    pool.build(0)
    pool.create(0)
    return pool


def upload_image_volume(conn: libvirt.virConnect, pool: libvirt.virStoragePool, vol: VolumePlan
                        ) -> None:
    source = Path(vol.source or "")
    upload_file(conn, pool, vol.name, source, vol.format,
                _qcow2_virtual_size(source) if vol.format == "qcow2" else None)


def _clone(conn: libvirt.virConnect, pool: libvirt.virStoragePool, plan: ResourcePlan,
           vol: VolumePlan) -> libvirt.virStorageVol:
    """A remote host's copy, made on the host from the image pool delivered to it."""
    source = conn.storagePoolLookupByName(plan.image_pool).storageVolLookupByName(
        image_volumes(plan)[vol.source or ""].name)
    capacity = source.info()[1]
    return pool.createXMLFrom(volume_xml(vol.name, capacity, vol.format), source, 0)


def import_image(conn: libvirt.virConnect, pool: libvirt.virStoragePool, plan: ResourcePlan
                 ) -> None:
    """The image's base disk, kernel and initrd uploaded into the pool (on a remote host,
    copied there from its image pool)."""
    if plan.host.remote:
        for vol in (plan.base_disk, plan.kernel, plan.initrd):
            _clone(conn, pool, plan, vol)
        return
    disk = Path(plan.base_disk.source or "")
    upload_file(conn, pool, plan.base_disk.name, disk, plan.base_disk.format,
                _qcow2_virtual_size(disk))
    for vol in (plan.kernel, plan.initrd):
        upload_file(conn, pool, vol.name, Path(vol.source or ""), vol.format)


def create_shared(conn: libvirt.virConnect, plan: ResourcePlan, show: Show
                  ) -> libvirt.virStoragePool:
    """The network, the pool and the volumes every VM of the stack uses."""
    show("network")
    create_network(conn, plan)
    show("storage pool")
    pool = create_pool(conn, plan)
    show("volumes: base disk, kernel, initrd")
    import_image(conn, pool, plan)
    return pool


def _root_volume(conn: libvirt.virConnect, pool: libvirt.virStoragePool, plan: ResourcePlan,
                 vol: VolumePlan) -> libvirt.virStorageVol:
    """An overlay on the base volume, or a copy of the image's raw disk."""
    if vol.source is not None and plan.host.remote:
        return _clone(conn, pool, plan, vol)
    if vol.source is not None:
        return upload_file(conn, pool, vol.name, Path(vol.source), vol.format)
    backing = pool.storageVolLookupByName(vol.backing).path() if vol.backing else None
    return pool.createXML(volume_xml(vol.name, vol.size_bytes or 0, vol.format, backing), 0)


def prepare_vm(conn: libvirt.virConnect, pool: libvirt.virStoragePool, plan: ResourcePlan,
               vm: VmPlan, public_key: str) -> str:
    """The VM's root volume and seed created; returns its domain XML (pinned)."""
    _root_volume(conn, pool, plan, vm.root)
    with tempfile.TemporaryDirectory() as tmp:
        seed = upload_file(conn, pool, vm.seed, _seed_iso(vm, public_key, Path(tmp)), "raw")
    path = {name: pool.storageVolLookupByName(name).path()
            for name in (plan.kernel.name, plan.initrd.name)}
    return apply_xslt(domain_xml(vm, pool=plan.pool, network=plan.network.name,
                                 kernel=path[plan.kernel.name], initrd=path[plan.initrd.name],
                                 seed_iso=seed.path()), vm.xslt)


def start_vm(conn: libvirt.virConnect, xml: str) -> libvirt.virDomain:
    """Define the domain and start it; returns once QEMU runs it."""
    domain = conn.defineXML(xml)
    domain.create()
    return domain


def create_vm(conn: libvirt.virConnect, pool: libvirt.virStoragePool, plan: ResourcePlan,
              vm: VmPlan, public_key: str, show: Show) -> libvirt.virDomain:
    """One running, pinned domain with its root volume and seed."""
    show(f"{vm.env.name}: root volume and seed")
    xml = prepare_vm(conn, pool, plan, vm, public_key)
    show(f"{vm.env.name}: domain")
    return start_vm(conn, xml)


def remove_vm(conn: libvirt.virConnect, pool: libvirt.virStoragePool, vm: VmPlan) -> None:
    """One VM gone: its domain (stopped, undefined), root volume and seed; absent parts are
    skipped."""
    domain = _lookup(conn.lookupByName, vm.domain)
    if domain is not None:
        _remove_domain(domain)
    pool.refresh(0)
    for name in (vm.root.name, vm.seed):
        try:
            pool.storageVolLookupByName(name).delete(0)
        except libvirt.libvirtError as exc:
            if exc.get_error_code() != libvirt.VIR_ERR_NO_STORAGE_VOL:
                raise


def lease(conn: libvirt.virConnect, plan: ResourcePlan, domain: libvirt.virDomain) -> str | None:
    """The VM's IPv4 address if its DHCP lease is there now; an error if it stopped."""
    if not domain.isActive():
        raise LibvirtError(f"VM {domain.name()} stopped during boot; see "
                           f"/var/log/libvirt/qemu/{domain.name()}.log")
    mac = mac_address(domain)
    for entry in conn.networkLookupByName(plan.network.name).DHCPLeases(mac):
        if entry.get("type") == libvirt.VIR_IP_ADDR_TYPE_IPV4:
            return entry["ipaddr"]
    return None


def mac_address(domain: libvirt.virDomain) -> str:
    mac = ET.fromstring(domain.XMLDesc(0)).find("./devices/interface/mac")
    if mac is None:
        raise LibvirtError(f"domain {domain.name()} has no network interface")
    return mac.get("address", "")


def wait_for_lease(conn: libvirt.virConnect, plan: ResourcePlan, domain: libvirt.virDomain,
                   timeout: float, show: Show) -> str:
    """The VM's IPv4 address from the network's DHCP leases."""
    start = time.monotonic()

    def leased() -> str | None:
        address = lease(conn, plan, domain)
        if address is None:
            show(f"waiting for a DHCP lease for {mac_address(domain)} "
                 f"({time.monotonic() - start:.0f}s)")
        return address

    if (address := wait_until(leased, timeout, 2)) is not None:
        return address
    raise LibvirtError(f"VM {domain.name()} got no DHCP lease within {timeout:.0f}s "
                       f"(accel {plan.accel}); its console: virsh console {domain.name()}")


def destroy(conn: libvirt.virConnect, plan: ResourcePlan, show: Show
            ) -> tuple[list[str], list[str]]:
    """Remove domains, volumes, pool and network, each as far as it goes: absent parts are
    skipped; returns what was removed and what could not be (with why)."""
    removed: list[str] = []
    problems: list[str] = []

    def attempt(what: str, remove: Callable[[], None]) -> None:
        show(what)
        try:
            remove()
            removed.append(what)
        except libvirt.libvirtError as exc:
            if not conn.isAlive():
                raise
            problems.append(f"{what}: {exc}")

    with answering(conn, plan.libvirt_uri):
        for domain in stack_domains(conn, plan):
            attempt(f"domain {domain.name()}", functools.partial(_remove_domain, domain))
        if (pool := _lookup(conn.storagePoolLookupByName, plan.pool)) is not None:
            attempt(f"pool {plan.pool}", lambda: remove_pool(pool, plan.base_disk.name))
        if (network := _lookup(conn.networkLookupByName, plan.network.name)) is not None:
            attempt(f"network {plan.network.name}", lambda: _remove_network(network))
    return removed, problems


def _remove_domain(domain: libvirt.virDomain) -> None:
    if domain.isActive():
        domain.destroy()
    domain.undefine()


def remove_pool(pool: libvirt.virStoragePool, base: str = "") -> None:
    """Its volumes (overlays before the ``base`` they sit on), then the pool; a pool defined but
    never built (no directory, so it cannot start) has no volumes and is only undefined."""
    if not pool.isActive():
        with contextlib.suppress(libvirt.libvirtError):
            pool.create(0)
    if pool.isActive():
        pool.refresh(0)
        for vol in sorted(pool.listAllVolumes(0), key=lambda v: v.name() == base):
            vol.delete(0)
        pool.destroy()
        pool.delete(0)
    pool.undefine()


def _remove_network(network: libvirt.virNetwork) -> None:
    if network.isActive():
        network.destroy()
    network.undefine()
