"""The targets document: what `pulumi up` / `fab up` produce and `fab benchmark` consumes.

Same shape as `pulumi stack output --json --show-secrets`: top-level keys `stack`, `spec`,
`image`, `targets` (one entry per environment: its kind, resources and how to reach it) and the
secret `ssh_private_key`. Read from a file (`--targets-file`), from the file `fab up` saved for
the stack, or from the Pulumi CLI; validated with errors naming the source and field.
"""

from __future__ import annotations

import ipaddress
import json
import shutil
import subprocess
from pathlib import Path
from typing import Annotated, Self

from pydantic import Field, field_validator, model_validator

from hostbench.datafiles import load_json_object
from hostbench.errors import ConfigError, HostbenchError
from hostbench.paths import STACK_NAME, stack_state_dir
from hostbench.record_base import NotBool, Record, validated
from hostbench.stack.environments import (
    KIND_ORDER,
    Accel,
    ContainerOptions,
    Environment,
    EnvName,
    Kind,
    VmOptions,
    options_of_its_kind,
)
from hostbench.stack.spec import CoreList, StackSpec, cpuset

SSH_USER = "root"
LOOPBACK = "127.0.0.1"
"""The only address a container's SSH is published on (the host's, or inside a VM the
guest's), and the host's from bare metal."""
SCRATCH_DIR = "/scratch"
"""Where workloads put scratch files inside every environment: the VM's own disk, a host directory
bind-mounted into the container, and a directory of the chroot tree for bare metal."""


class ImageRef(Record):
    """Which image the environments run: its content hash, Docker tag and manifest file."""

    hash: Annotated[str, Field(pattern=r"^[A-Za-z0-9]*$")]
    docker_tag: str
    manifest: str


class Target(Record):
    """One environment as provisioned: its resources, where it runs, and how to reach it.

    ``host_address`` is the host as seen from inside the environment: where host-side servers
    (iperf3, sockperf) listen for it.
    """

    name: EnvName
    kind: Kind
    cores: CoreList
    memory_mib: Annotated[int, Field(ge=1), NotBool]
    host_address: Annotated[str, Field(min_length=1)]
    variant_of: EnvName | None = None
    options: ContainerOptions | VmOptions | None = None
    rootfs: str | None = None
    scratch: str | None = None  # bare metal: the host directory bound at /scratch in the tree
    host: str | None = None
    port: Annotated[int, Field(ge=1, le=65535), NotBool] | None = None
    user: str | None = None
    domain: str | None = None
    container: str | None = None
    nested_port: Annotated[int, Field(ge=1, le=65535), NotBool] | None = None
    """A VM whose workloads run in a container inside it: that container's sshd, on the guest's
    loopback, reached through the guest's sshd (``host``, ``port``)."""
    accel: Accel | None = None

    _options = model_validator(mode="before")(options_of_its_kind)

    @field_validator("host_address")
    @classmethod
    def _an_ipv4_address(cls, value: str) -> str:
        """Host servers listen on it (and are found listening in /proc/net/tcp)."""
        try:
            return str(ipaddress.IPv4Address(value))
        except ValueError:
            raise ValueError(f"must be an IPv4 address, got {value!r}") from None

    @model_validator(mode="after")
    def _reachable(self) -> Self:
        needed = {Kind.BARE: ("rootfs",), Kind.VM: ("host", "port", "user", "accel"),
                  Kind.CONTAINER: ("host", "port", "user")}[self.kind]
        for name in needed:
            if not getattr(self, name):
                raise ValueError(f"a {self.kind} target needs '{name}'")
        if self.nested_port is not None and self.kind is not Kind.VM:
            raise ValueError("only a VM has a container inside it ('nested_port')")
        return self

    @property
    def cpuset(self) -> str:
        return cpuset(self.cores)

    @property
    def environment(self) -> Environment:
        return Environment(name=self.name, kind=self.kind, variant_of=self.variant_of,
                           accel=self.accel if self.kind is Kind.VM else None,
                           options=self.options)


class Targets(Record):
    stack: Annotated[str, Field(pattern=STACK_NAME)]
    spec: StackSpec
    image: ImageRef
    targets: Annotated[dict[str, Target], Field(min_length=1)]
    ssh_private_key: str
    source: str = Field("", exclude=True)

    @model_validator(mode="before")
    @classmethod
    def _names_from_keys(cls, data: object) -> object:
        if isinstance(data, dict) and isinstance(data.get("targets"), dict):
            data = {**data, "targets": {
                name: {"name": name, **t} if isinstance(t, dict) and "name" not in t else t
                for name, t in data["targets"].items()}}
        return data

    @field_validator("ssh_private_key")
    @classmethod
    def _unmasked(cls, value: str) -> str:
        if "PRIVATE KEY" not in value:
            raise ValueError("is not an OpenSSH private key (was it masked? use --show-secrets)")
        return value

    @property
    def environments(self) -> list[Environment]:
        """In the stack's declared order (bare metal first); undeclared ones after, by kind."""
        declared = [env.name for env in self.spec.all_environments]

        def order(t: Target) -> tuple[int, int, str]:
            index = declared.index(t.name) if t.name in declared else len(declared)
            return index, KIND_ORDER.index(t.kind), t.name

        return [t.environment for t in sorted(self.targets.values(), key=order)]

    def to_json(self) -> str:
        """The document as `pulumi stack output --json --show-secrets` prints it."""
        return self.model_dump_json(indent=2, exclude_none=True)


def saved_targets_file(stack: str) -> Path:
    """Where `fab up` saves its targets."""
    return stack_state_dir(stack) / "targets.json"


def parse_targets(data: object, source: str) -> Targets:
    if not isinstance(data, dict):
        raise ConfigError(source, "(top level)", "must be a JSON object (pulumi stack output)")
    return validated(Targets, {**data, "source": source}, source)


def load_targets_file(path: Path) -> Targets:
    return parse_targets(load_json_object(path), str(path))


def from_pulumi(stack: str) -> Targets:
    pulumi = shutil.which("pulumi") or shutil.which(str(Path.home() / ".pulumi/bin/pulumi"))
    if pulumi is None:
        raise HostbenchError(
            f"no targets for stack {stack!r}: no --targets-file, no {saved_targets_file(stack)} "
            "from `fab up`, and no Pulumi CLI to ask; run `fab up` or pass --targets-file")
    proc = subprocess.run([pulumi, "stack", "output", "--json", "--show-secrets", "--stack",
                           stack], capture_output=True, text=True)
    if proc.returncode != 0:
        raise HostbenchError(f"pulumi stack output for stack {stack!r} failed: "
                             f"{proc.stderr.strip()}")
    source = f"pulumi stack output --stack {stack}"
    try:
        data = json.loads(proc.stdout)
    except json.JSONDecodeError as exc:
        raise ConfigError(source, "(output)", f"is not valid JSON: {exc}") from None
    return parse_targets(data, source)


def resolve_targets(stack: str, targets_file: str | None) -> Targets:
    """--targets-file, else `fab up`'s saved file for the stack, else the Pulumi stack outputs."""
    if targets_file:
        return load_targets_file(Path(targets_file))
    saved = saved_targets_file(stack)
    if saved.exists():
        return load_targets_file(saved)
    return from_pulumi(stack)
