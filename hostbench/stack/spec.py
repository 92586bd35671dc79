"""The validated description of one stack: matched cores, memory and disk for every environment.

A stack config (``stacks/Pulumi.<stack>.yaml``, or Pulumi's config of the stack) is read into a
``StackConfig``; checked against this host (cores that exist, KVM usable when asked for) it
becomes the ``StackSpec`` that provisioning, the targets and every stored run carry.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, field_validator

from hostbench.datafiles import load_mapping
from hostbench.errors import ConfigError, HostbenchError
from hostbench.paths import PROJECT_ROOT, libvirt_pool_dir, stacks_dir
from hostbench.record_base import NotBool, Record, validated
from hostbench.stack.accel import resolve_accel
from hostbench.stack.environments import (
    BARE_METAL,
    BASELINE,
    DEFAULT_ENVIRONMENTS,
    KVM_ONLY,
    OPTIONS_BY_KIND,
    Accel,
    Environment,
    EnvName,
    Kind,
    nested_declared,
)
from hostbench.stack.host import (
    Host,
    HostKeyChanged,
    HostLimits,
    host_for,
    local_limits,
    remote_limits,
)

PROJECT = "hostbench"
PREFIX = f"{PROJECT}:"
DEFAULT_MANIFEST = "build/images/current/manifest.json"
HOST_PATTERN = r"^([A-Za-z0-9._-]+@)?[A-Za-z0-9_][A-Za-z0-9._-]*$"
"""[user@]name: nothing ssh could read as an option or a second argument."""
MAX_PORT = 65535
"""The highest TCP port: the last container's SSH port may not pass it."""
MAX_STACK_NAME = 12
"""So that the bridge ``hb-<stack>`` fits Linux's 15 characters uncut."""


def cpuset(cores: tuple[int, ...] | list[int]) -> str:
    """Host cores as a cpuset string ("1", "2,3"): Docker cpu_set, taskset, libvirt cpuset."""
    return ",".join(str(c) for c in cores)


def _core_list(value: Any) -> Any:
    """Pulumi hands lists over as JSON text; a single core may be given as a number."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise ValueError(f"must be a list of host core numbers like [1], got {value!r}"
                             ) from None
    if isinstance(value, int) and not isinstance(value, bool):
        value = [value]
    if not isinstance(value, list | tuple) or not value:
        raise ValueError(f"must be a non-empty list of host core numbers, got {value!r}")
    numbers = [v for v in value if isinstance(v, int)]  # the rest fails as items, below
    if len(set(numbers)) != len(numbers):
        raise ValueError(f"lists a core twice: {list(value)}")
    return value


CoreList = Annotated[tuple[Annotated[int, Field(ge=0), NotBool], ...],
                     BeforeValidator(_core_list)]


def _json_if_text(value: Any) -> Any:
    """Pulumi hands structured config over as JSON text."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            raise ValueError(f"must be a list of environments, got {value!r}") from None
    return value


class EnvironmentConfig(Record):
    """One environment a stack builds, as its config declares it."""

    name: EnvName
    kind: Literal["vm", "container"]
    variant_of: EnvName | None = Field(
        None, description="the environment this one varies: the report measures the factor")
    options: dict[str, str | int] = Field(
        default_factory=dict,
        description="container: runtime (runc|runsc), network (bridge|host), seccomp "
                    "(default|unconfined), storage (volume|overlay); vm: disk "
                    "(qcow2-overlay|raw), cache (default|none|writeback|writethrough|"
                    "directsync|unsafe), io (default|native|threads), cpu_model "
                    "(auto|default|host-passthrough), tcg_cache_mib (MiB, TCG only), workloads "
                    "(guest|container: in a Docker container inside the guest)")


class StackConfig(Record):
    """The keys of a stack config file, without their ``hostbench:`` prefix."""

    cores: CoreList = Field(description="host cores; VM vCPU i is pinned to cores[i], the "
                                        "container and bare metal to the same set")
    memory_mib: Annotated[int, Field(ge=256), NotBool] = Field(
        description="VM memory and container memory limit (no swap), MiB")
    disk_gib: Annotated[int, Field(ge=5), NotBool] = Field(8,
                                                           description="VM root volume, GiB")
    accel: Literal["auto", "kvm", "tcg"] = Field(
        "auto", description="auto: kvm only with /dev/kvm and the vmx/svm CPU flag, else tcg")
    ssh_port: Annotated[int, Field(ge=1024, le=65535), NotBool] = Field(
        2222, description="container sshd, published on 127.0.0.1 only (the next ports: the "
                          "next containers', then those inside VMs, on their guest's loopback)")
    network_cidr: str = Field("192.168.150.0/24", description="the VMs' libvirt NAT network")
    image_manifest: str = Field(DEFAULT_MANIFEST, description="the image built by "
                                                              "scripts/build-image")
    environments: Annotated[list[EnvironmentConfig] | None, BeforeValidator(_json_if_text)] = (
        Field(None, description="what to build besides bare metal (default: vm and container); "
                                "every one gets the same cores and memory"))
    host: Annotated[str, Field(pattern=HOST_PATTERN)] | None = Field(
        None, description="the host under test, [user@]name as for ssh (an alias of "
                          "~/.ssh/config works); absent: this machine")
    host_port: Annotated[int, Field(ge=1, le=65535), NotBool] | None = Field(
        None, description="the host's SSH port (default: ~/.ssh/config's, else 22)")
    host_identity_file: str | None = Field(
        None, description="private key for the host (default: ~/.ssh/config's, the agent's, "
                          "~/.ssh/id_*)")
    host_dir: Annotated[str, Field(pattern=r"^/[^\s'\"]*$")] = Field(
        "/var/lib/hostbench", description="on a remote host: where the image's tree and the "
                                          "stacks' scratch directories are kept")

    @field_validator("network_cidr")
    @classmethod
    def _ipv4_network(cls, value: str) -> str:
        try:
            net = ipaddress.ip_network(value)
        except ValueError as exc:
            raise ValueError(f"is not an IPv4 network: {exc}") from None
        if net.version != 4 or net.num_addresses < 8:
            raise ValueError(f"must be an IPv4 network of at least 8 addresses, got {value}")
        return value


class StackSpec(StackConfig):
    """A stack config checked on this host: accel resolved, the manifest path absolute, and the
    environments to build (bare metal, the baseline, is not among them: it is always there)."""

    stack: Annotated[str, Field(pattern=r"^[A-Za-z0-9-]*$")] = ""
    source: str = ""
    accel: Accel  # resolved: never "auto"
    # resolved: the environments to build, where the config has their declarations
    environments: tuple[Environment, ...] = DEFAULT_ENVIRONMENTS  # type: ignore[assignment]

    @property
    def cpuset(self) -> str:
        return cpuset(self.cores)

    @property
    def machine(self) -> Host:
        """The host the stack's environments run on: this machine, or ``host`` over SSH."""
        return host_for(self.stack, self.host, self.host_port, self.host_identity_file)

    @property
    def ssh_ports(self) -> range:
        """The ports the containers' sshd take in turn: the outer containers' on the host's
        loopback, then those inside VMs on their guest's."""
        return range(self.ssh_port, MAX_PORT + 1)

    @property
    def all_environments(self) -> tuple[Environment, ...]:
        """Bare metal first, then the built environments, each VM with the stack's accel."""
        return (BARE_METAL, *(env.model_copy(update={"accel": self.accel})
                              if env.kind is Kind.VM else env for env in self.environments))


def _check_host_limits(config: StackConfig, source: str, limits: HostLimits) -> None:
    """Cores that exist and leave one for hostbench and its host-side servers; memory and disk
    that fit."""
    cpus, memory_mib, disk_gib = limits.cpus, limits.memory_mib, limits.disk_gib
    host = "this host" if config.host is None else f"host {config.host}"
    unknown = sorted(set(config.cores) - cpus)
    if unknown:
        raise ConfigError(source, f"{PREFIX}cores", f"core(s) {unknown} do not exist or are not "
                                                    f"usable on {host} (usable: "
                                                    f"{sorted(cpus)})")
    if set(config.cores) == cpus:
        raise ConfigError(source, f"{PREFIX}cores", f"{list(config.cores)} is every usable core "
                                                    f"of {host}: leave at least one for "
                                                    "hostbench and the host-side servers, which "
                                                    "would otherwise share the measured cores")
    vms = sum(1 for e in config.environments or DEFAULT_ENVIRONMENTS if e.kind == Kind.VM)
    if config.memory_mib > memory_mib or vms * config.memory_mib > memory_mib:
        problem = (f"{vms} VMs x {config.memory_mib} MiB is" if vms > 1
                   else f"{config.memory_mib} MiB is")
        raise ConfigError(source, f"{PREFIX}memory_mib",
                          f"{problem} more than {host}'s {memory_mib} MiB")
    if config.disk_gib > disk_gib:
        raise ConfigError(source, f"{PREFIX}disk_gib", f"{config.disk_gib} GiB is larger than "
                                                       f"the {disk_gib} GiB filesystem the VM "
                                                       "volumes live on")


def _limits(stack: str, config: StackConfig, source: str) -> HostLimits:
    """The CPUs, memory, disk and KVM of the stack's host, read there."""
    pool_root = libvirt_pool_dir("x").parent
    if config.host is None:
        return local_limits(pool_root)
    try:
        return remote_limits(host_for(stack, config.host, config.host_port,
                                      config.host_identity_file), pool_root)
    except HostKeyChanged:
        raise
    except HostbenchError as exc:
        raise ConfigError(source, f"{PREFIX}host", str(exc)) from None


def _takes_port(env: EnvironmentConfig | Environment) -> bool:
    """A container, or a VM whose workloads run in a container inside it."""
    if isinstance(env, Environment):
        return env.kind is Kind.CONTAINER or env.nested
    return env.kind == Kind.CONTAINER or nested_declared(env.kind, env.options)


def _check_ports(config: StackConfig, source: str) -> None:
    """Each container (outer ones first, then those inside VMs) takes the next port from
    ``ssh_port`` on: the last must still exist."""
    containers = sum(1 for e in config.environments or DEFAULT_ENVIRONMENTS if _takes_port(e))
    if config.ssh_port + containers - 1 > MAX_PORT:
        raise ConfigError(source, f"{PREFIX}ssh_port",
                          f"{config.ssh_port} + {containers} containers needs ports up to "
                          f"{config.ssh_port + containers - 1}, beyond {MAX_PORT}")


def resolve(stack: str, config: StackConfig, source: str, host_cpus: set[int] | None = None,
            kvm_ok: bool | None = None, host_memory_mib: int | None = None,
            host_disk_gib: int | None = None) -> StackSpec:
    """The config checked against its host (or the given CPUs, KVM usability, memory and
    disk)."""
    if config.host_identity_file is not None and not Path(
            config.host_identity_file).expanduser().is_file():
        raise ConfigError(source, f"{PREFIX}host_identity_file",
                          f"{config.host_identity_file} is not a file")
    if host_cpus is None or kvm_ok is None or host_memory_mib is None or host_disk_gib is None:
        found = _limits(stack, config, source)
        host_cpus = found.cpus if host_cpus is None else host_cpus
        kvm_ok = found.kvm_ok if kvm_ok is None else kvm_ok
        host_memory_mib = found.memory_mib if host_memory_mib is None else host_memory_mib
        host_disk_gib = found.disk_gib if host_disk_gib is None else host_disk_gib
    limits = HostLimits(cpus=host_cpus, kvm_ok=kvm_ok, memory_mib=host_memory_mib,
                        disk_gib=host_disk_gib)
    _check_host_limits(config, source, limits)
    _check_ports(config, source)
    kvm_ok = limits.kvm_ok
    if config.accel == "kvm" and not kvm_ok:
        raise ConfigError(source, f"{PREFIX}accel", "is kvm but KVM is not usable here (needs "
                                                    "/dev/kvm and the vmx or svm CPU flag); use "
                                                    "auto or tcg")
    manifest = Path(config.image_manifest)
    accel = resolve_accel(config.accel, kvm_ok)
    values = config.model_dump(exclude={"environments"})
    values.update(stack=stack, source=source, accel=accel,
                  image_manifest=str(manifest if manifest.is_absolute()
                                     else PROJECT_ROOT / manifest))
    if config.environments is not None:
        values["environments"] = _environments(config.environments, accel, source)
    return validated(StackSpec, values, source, PREFIX)


def _environments(declared: list[EnvironmentConfig], accel: str, source: str
                  ) -> tuple[Environment, ...]:
    """The declared environments as values: unique names, options of their kind, variants of
    environments the stack has, no KVM-only option under TCG."""
    if not declared:
        raise ConfigError(source, f"{PREFIX}environments", "lists no environment; leave it out "
                                                           "for the default vm and container")
    names = [d.name for d in declared]
    envs = []
    for index, d in enumerate(declared):
        where = f"{PREFIX}environments[{index}]"
        if d.name == BASELINE:
            raise ConfigError(source, f"{where}.name", "'bare' is bare metal, which every stack "
                                                       "has as its baseline")
        if d.name in names[:index]:
            raise ConfigError(source, f"{where}.name", f"{d.name!r} is declared twice")
        if d.variant_of is not None and (d.variant_of not in names or d.variant_of == d.name):
            raise ConfigError(source, f"{where}.variant_of",
                              f"{d.variant_of!r} is not another environment of the stack "
                              f"(it has: {', '.join(names)})")
        kind = Kind(d.kind)
        if d.variant_of is not None and declared[names.index(d.variant_of)].kind != d.kind:
            raise ConfigError(source, f"{where}.variant_of", f"{d.variant_of!r} is not a {kind}: "
                                                             "a variant varies its own kind")
        options = validated(OPTIONS_BY_KIND[kind], d.options, source, f"{where}.options.")
        for key, value in KVM_ONLY.items():
            if accel != "kvm" and d.options.get(key) == value:
                raise ConfigError(source, f"{where}.options.{key}",
                                  f"{value!r} exists only under KVM, and this VM runs under TCG "
                                  "(no usable KVM on this host)")
        if accel == "kvm" and d.options.get("tcg_cache_mib") is not None:
            raise ConfigError(source, f"{where}.options.tcg_cache_mib",
                              "exists only under TCG, and this VM runs under KVM")
        envs.append(Environment(name=d.name, kind=kind, variant_of=d.variant_of,
                                options=options))
    return tuple(envs)


def spec_from_mapping(stack: str, config: dict[str, Any], source: str, **host: Any
                      ) -> StackSpec:
    """Validate stack config values (keys without the ``hostbench:`` prefix) on this host
    (``host``: see ``resolve``)."""
    if not stack.replace("-", "").isalnum():
        raise ConfigError(source, "(stack name)", f"{stack!r} must be letters, digits and dashes")
    if len(stack) > MAX_STACK_NAME:
        raise ConfigError(source, "(stack name)",
                          f"{stack!r} is longer than {MAX_STACK_NAME} characters: its bridge "
                          f"hb-{stack} would be cut to the 15 characters Linux allows, and "
                          "could be another stack's")
    return resolve(stack, validated(StackConfig, config, source, PREFIX), source, **host)


def stack_file(stack: str) -> Path:
    return stacks_dir() / f"Pulumi.{stack}.yaml"


def load_stack_file(stack: str, path: Path | None = None, **host: Any) -> StackSpec:
    """Read stacks/Pulumi.<stack>.yaml directly (used where the Pulumi CLI is absent)."""
    path = path or stack_file(stack)
    data = load_mapping(path)
    config = data.get("config")
    if not isinstance(config, dict):
        raise ConfigError(str(path), "config", "must be a mapping of hostbench:* keys")
    stripped = {}
    for key, value in config.items():
        if not str(key).startswith(PREFIX):
            raise ConfigError(str(path), f"config.{key}", f"is not a {PREFIX}* key")
        stripped[str(key).removeprefix(PREFIX)] = value
    return spec_from_mapping(stack, stripped, str(path), **host)


def declared_networks(directory: Path | None = None) -> dict[str, str]:
    """The VM network each stack file in ``directory`` declares (the default where it declares
    none), by stack name; files that do not read are left to their own validation."""
    default = StackConfig.model_fields["network_cidr"].default
    found = {}
    for path in sorted((directory or stacks_dir()).glob("Pulumi.*.yaml")):
        try:
            config = load_mapping(path).get("config")
        except ConfigError:
            continue
        if not isinstance(config, dict):
            continue
        cidr = str(config.get(f"{PREFIX}network_cidr", default))
        with contextlib.suppress(ValueError):
            ipaddress.IPv4Network(cidr, strict=False)
            found[path.name.removeprefix("Pulumi.").removesuffix(".yaml")] = cidr
    return found
