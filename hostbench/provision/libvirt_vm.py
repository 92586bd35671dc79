"""The stack's VM straight through the libvirt API: network, pool, volumes, seed, domain."""

from __future__ import annotations

import json
import subprocess
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

import libvirt

from hostbench.errors import HostbenchError
from hostbench.image.manifest import ImageManifest
from hostbench.infra.seed import meta_data, user_data
from hostbench.paths import libvirt_pool_dir
from hostbench.provision.domain_xml import network_xml, pinned_domain_xml, pool_xml, volume_xml
from hostbench.spec import StackSpec

LIBVIRT_URI = "qemu:///system"
GIB = 1024**3


class LibvirtError(HostbenchError):
    pass


def _quiet(_context: object, _error: object) -> None:
    """libvirt prints every error to stderr; ours are raised or deliberately ignored."""


def connect() -> libvirt.virConnect:
    libvirt.registerErrorHandler(_quiet, None)
    try:
        return libvirt.open(LIBVIRT_URI)
    except libvirt.libvirtError as exc:
        raise LibvirtError(f"cannot connect to libvirtd at {LIBVIRT_URI}: {exc}; "
                           "is libvirtd running? (scripts/setup starts it)") from None


def _upload(conn: libvirt.virConnect, pool: libvirt.virStoragePool, name: str, source: Path,
            fmt: str, capacity: int | None = None) -> libvirt.virStorageVol:
    size = source.stat().st_size
    vol = pool.createXML(volume_xml(name, capacity or size, fmt), 0)
    stream = conn.newStream(0)
    vol.upload(stream, 0, size, 0)
    with source.open("rb") as fh:
        stream.sendAll(lambda _stream, nbytes, f: f.read(nbytes), fh)
    stream.finish()
    return vol


def _qcow2_virtual_size(path: Path) -> int:
    info = json.loads(subprocess.run(["qemu-img", "info", "--output=json", str(path)],
                                     capture_output=True, text=True, check=True).stdout)
    return int(info["virtual-size"])


def _seed_iso(spec: StackSpec, public_key: str, directory: Path) -> Path:
    (directory / "user-data").write_text(user_data(public_key))
    (directory / "meta-data").write_text(meta_data(spec.resource_prefix))
    iso = directory / "seed.iso"
    subprocess.run(["genisoimage", "-quiet", "-output", str(iso), "-volid", "cidata", "-joliet",
                    "-rock", str(directory / "user-data"), str(directory / "meta-data")],
                   check=True, capture_output=True)
    return iso


NOT_FOUND = (libvirt.VIR_ERR_NO_DOMAIN, libvirt.VIR_ERR_NO_NETWORK,
             libvirt.VIR_ERR_NO_STORAGE_POOL)


def _lookup(lookup: Callable[[str], Any], name: str) -> Any:
    """The object called `name`, or None when libvirt has none; other errors propagate."""
    try:
        return lookup(name)
    except libvirt.libvirtError as exc:
        if exc.get_error_code() in NOT_FOUND:
            return None
        raise


def exists(conn: libvirt.virConnect, spec: StackSpec) -> list[str]:
    """Names of this stack's libvirt objects that exist now."""
    name = spec.resource_prefix
    lookups = (("domain", conn.lookupByName), ("network", conn.networkLookupByName),
               ("pool", conn.storagePoolLookupByName))
    return [f"{kind} {name}" for kind, lookup in lookups if _lookup(lookup, name) is not None]


def create(conn: libvirt.virConnect, spec: StackSpec, manifest: ImageManifest, public_key: str,
           show: Callable[[str], None]) -> libvirt.virDomain:
    """Create network, pool, volumes and the running, pinned domain."""
    name = spec.resource_prefix
    show("network")
    network = conn.networkDefineXML(network_xml(spec))
    network.create()
    show("storage pool")
    pool = conn.storagePoolDefineXML(pool_xml(name, libvirt_pool_dir(name)), 0)
    pool.build(0)
    pool.create(0)
    show("volumes: base disk")
    disk = Path(manifest.disk)
    base = _upload(conn, pool, f"{name}-base.qcow2", disk, "qcow2", _qcow2_virtual_size(disk))
    root = pool.createXML(volume_xml(f"{name}-root.qcow2", spec.disk_gib * GIB, "qcow2",
                                     backing=base.path()), 0)
    show("volumes: kernel, initrd, seed")
    kernel = _upload(conn, pool, f"{name}-vmlinuz", Path(manifest.kernel), "raw")
    initrd = _upload(conn, pool, f"{name}-initrd.img", Path(manifest.initrd), "raw")
    with tempfile.TemporaryDirectory() as tmp:
        seed = _upload(conn, pool, f"{name}-seed.iso", _seed_iso(spec, public_key, Path(tmp)),
                       "raw")
    show("domain")
    xml = pinned_domain_xml(spec, kernel=kernel.path(), initrd=initrd.path(),
                            cmdline=manifest.kernel_cmdline, root_disk=root.path(),
                            seed_iso=seed.path())
    domain = conn.defineXML(xml)
    domain.create()
    return domain


def mac_address(domain: libvirt.virDomain) -> str:
    mac = ET.fromstring(domain.XMLDesc(0)).find("./devices/interface/mac")
    if mac is None:
        raise LibvirtError(f"domain {domain.name()} has no network interface")
    return mac.get("address", "")


def wait_for_lease(conn: libvirt.virConnect, spec: StackSpec, domain: libvirt.virDomain,
                   timeout: float, show: Callable[[str], None]) -> str:
    """The VM's IPv4 address from the network's DHCP leases."""
    network = conn.networkLookupByName(spec.resource_prefix)
    mac = mac_address(domain)
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if not domain.isActive():
            raise LibvirtError(f"VM {domain.name()} stopped during boot; see "
                               f"/var/log/libvirt/qemu/{domain.name()}.log")
        for lease in network.DHCPLeases(mac):
            if lease.get("type") == libvirt.VIR_IP_ADDR_TYPE_IPV4:
                return lease["ipaddr"]
        show(f"waiting for a DHCP lease for {mac} ({time.monotonic() - start:.0f}s)")
        time.sleep(2)
    raise LibvirtError(f"VM {domain.name()} got no DHCP lease within {timeout:.0f}s "
                       f"(accel {spec.accel}); its console: virsh console {domain.name()}")


def destroy(conn: libvirt.virConnect, spec: StackSpec, show: Callable[[str], None]) -> None:
    """Remove domain, volumes, pool and network; absent parts are skipped, failures raised."""
    name = spec.resource_prefix
    try:
        if (domain := _lookup(conn.lookupByName, name)) is not None:
            show(f"domain {name}")
            if domain.isActive():
                domain.destroy()
            domain.undefine()
        if (pool := _lookup(conn.storagePoolLookupByName, name)) is not None:
            show(f"pool {name}")
            if not pool.isActive():
                pool.create(0)
            pool.refresh(0)
            overlays_first = sorted(pool.listAllVolumes(0),
                                    key=lambda v: v.name().endswith("-base.qcow2"))
            for vol in overlays_first:
                vol.delete(0)
            pool.destroy()
            pool.delete(0)
            pool.undefine()
        if (network := _lookup(conn.networkLookupByName, name)) is not None:
            show(f"network {name}")
            if network.isActive():
                network.destroy()
            network.undefine()
    except libvirt.libvirtError as exc:
        raise LibvirtError(f"removing the VM of stack {spec.stack} failed: {exc}") from None
