"""The validated description of one stack: matched cores, memory and disk for VM and container."""

from __future__ import annotations

import ipaddress
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hostbench.accel import kvm_usable, resolve_accel
from hostbench.datafiles import load_mapping
from hostbench.errors import ConfigError
from hostbench.fields import FieldReader
from hostbench.paths import PROJECT_ROOT, STACKS_DIR

PROJECT = "hostbench"
ACCELS = ("auto", "kvm", "tcg")
STACK_KEYS = ("cores", "memory_mib", "disk_gib", "accel", "ssh_port", "image_manifest",
              "network_cidr")


@dataclass(frozen=True)
class StackSpec:
    stack: str
    cores: tuple[int, ...]
    memory_mib: int
    disk_gib: int
    accel: str  # resolved: "kvm" or "tcg"
    ssh_port: int
    image_manifest: Path
    network_cidr: str
    source: str

    @property
    def cpuset(self) -> str:
        """Host cores as a cpuset string ("1", "2,3"): Docker cpu_set, taskset, libvirt cpuset."""
        return ",".join(str(c) for c in self.cores)

    @property
    def vcpus(self) -> int:
        return len(self.cores)

    @property
    def resource_prefix(self) -> str:
        """Name prefix of every container, domain, volume, pool and network of the stack."""
        return f"hostbench-{self.stack}"

    @property
    def bridge_name(self) -> str:
        return f"hb-{self.stack}"[:15]

    def network_addresses(self) -> tuple[str, str, str, str]:
        """(gateway, netmask, dhcp start, dhcp end) of the stack's NAT network."""
        net = ipaddress.ip_network(self.network_cidr)
        hosts = list(net.hosts())
        return str(hosts[0]), str(net.netmask), str(hosts[1]), str(hosts[-1])


def _cores(r: FieldReader, host_cpus: set[int]) -> tuple[int, ...]:
    value = r.raw("cores")
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise r.fail("cores", f"must be a list of host core numbers like [1], got {value!r}") \
                from None
    if isinstance(value, int) and not isinstance(value, bool):
        value = [value]
    if (not isinstance(value, list) or not value
            or not all(isinstance(c, int | float) and not isinstance(c, bool)
                       and float(c).is_integer() for c in value)):
        raise r.fail("cores", f"must be a non-empty list of host core numbers, got {value!r}")
    cores = tuple(int(c) for c in value)
    if len(set(cores)) != len(cores):
        raise r.fail("cores", f"lists a core twice: {list(cores)}")
    unknown = sorted(set(cores) - host_cpus)
    if unknown:
        raise r.fail("cores", f"core(s) {unknown} do not exist or are not usable on this host "
                              f"(usable: {sorted(host_cpus)})")
    return cores


def spec_from_mapping(stack: str, config: Mapping[str, Any], source: str,
                      host_cpus: set[int] | None = None, kvm_ok: bool | None = None) -> StackSpec:
    """Validate stack config values (keys without the `hostbench:` prefix)."""
    host_cpus = set(os.sched_getaffinity(0)) if host_cpus is None else host_cpus
    kvm_ok = kvm_usable() if kvm_ok is None else kvm_ok
    r = FieldReader(source, config, prefix=f"{PROJECT}:")
    cores = _cores(r, host_cpus)
    requested = r.choice("accel", ACCELS, "auto")
    if requested == "kvm" and not kvm_ok:
        raise r.fail("accel", "is kvm but KVM is not usable here (needs /dev/kvm and the vmx or "
                              "svm CPU flag); use auto or tcg")
    cidr = r.string("network_cidr", "192.168.150.0/24")
    try:
        net = ipaddress.ip_network(cidr)
    except ValueError as exc:
        raise r.fail("network_cidr", f"is not an IPv4 network: {exc}") from None
    if net.version != 4 or net.num_addresses < 8:
        raise r.fail("network_cidr", f"must be an IPv4 network of at least 8 addresses, got {cidr}")
    manifest = Path(r.string("image_manifest", "build/images/current/manifest.json"))
    spec = StackSpec(
        stack=stack,
        cores=cores,
        memory_mib=r.integer("memory_mib", minimum=256),
        disk_gib=r.integer("disk_gib", 8, minimum=5),
        accel=resolve_accel(requested, kvm_ok),
        ssh_port=r.integer("ssh_port", 2222, minimum=1024, maximum=65535),
        image_manifest=manifest if manifest.is_absolute() else PROJECT_ROOT / manifest,
        network_cidr=cidr,
        source=source,
    )
    r.done()
    if not stack.replace("-", "").isalnum():
        raise ConfigError(source, "(stack name)", f"{stack!r} must be letters, digits and dashes")
    return spec


def stack_file(stack: str) -> Path:
    return STACKS_DIR / f"Pulumi.{stack}.yaml"


def load_stack_file(stack: str, path: Path | None = None, **host: Any) -> StackSpec:
    """Read stacks/Pulumi.<stack>.yaml directly (used where the Pulumi CLI is absent)."""
    path = path or stack_file(stack)
    data = load_mapping(path)
    config = data.get("config")
    if not isinstance(config, dict):
        raise ConfigError(str(path), "config", "must be a mapping of hostbench:* keys")
    stripped = {}
    for key, value in config.items():
        if not str(key).startswith(f"{PROJECT}:"):
            raise ConfigError(str(path), f"config.{key}", f"is not a {PROJECT}:* key")
        stripped[str(key).split(":", 1)[1]] = value
    return spec_from_mapping(stack, stripped, str(path), **host)
