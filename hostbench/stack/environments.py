"""An environment is a value: a name, a kind (bare | vm | container), its options, and the
environment it is a variant of.

A VM whose options say ``workloads: container`` runs its workloads in a Docker container inside
its guest (a container on a VM, as in production); it is a VM to the host, and a variant of the
stack's VM and of its container at once (analysis/factors.py).

Bare metal is always present and is the baseline every other environment is compared with. A
variant differs from the environment it varies in a few options (a factor: NAT or host network,
seccomp, gVisor, overlay or volume storage, raw or qcow2 disk, cache modes), so comparing the two
measures what that factor costs.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Annotated, Any, Literal, Self

from pydantic import Field, model_validator

from hostbench.record_base import Record

Accel = Literal["kvm", "tcg"]
EnvName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{0,29}$")]
"""Lower-case letters, digits and dashes: it becomes part of container and domain names."""


class Kind(StrEnum):
    BARE = "bare"
    VM = "vm"
    CONTAINER = "container"


KIND_ORDER = tuple(Kind)


class ContainerOptions(Record):
    """How a container runs; the defaults are Docker's."""

    runtime: Literal["runc", "runsc"] = Field(
        "runc", description="runsc: gVisor, a user-space kernel between container and VM")
    network: Literal["bridge", "host"] = Field(
        "bridge", description="bridge: Docker's NAT (veth + bridge); host: the host's stack")
    seccomp: Literal["default", "unconfined"] = Field(
        "default", description="Docker's default seccomp filter, or none")
    storage: Literal["volume", "overlay"] = Field(
        "volume", description="where the disk workloads' scratch file lives: a host directory "
                              "(volume) or the container's own writable layer (overlay)")


class VmOptions(Record):
    """How a VM's disk and CPU are presented; ``auto`` CPU model is host-passthrough under KVM."""

    disk: Literal["qcow2-overlay", "raw"] = Field(
        "qcow2-overlay", description="a qcow2 overlay on the image, or a raw copy of it")
    cache: Literal["default", "none", "writeback", "writethrough", "directsync", "unsafe"] = (
        Field("none", description="QEMU cache mode of the root disk; none (the default) keeps "
                                  "the host's page cache out of the guest's O_DIRECT I/O, as "
                                  "bare metal's and the container's; default: QEMU's own "
                                  "(writeback)"))
    io: Literal["default", "native", "threads"] = Field(
        "default", description="QEMU I/O mode of the root disk (native needs cache none)")
    cpu_model: Literal["auto", "default", "host-passthrough"] = Field(
        "auto", description="host-passthrough (KVM only); default: QEMU's model; auto: "
                            "host-passthrough under KVM, QEMU's model under TCG")

    workloads: Literal["guest", "container"] = Field(
        "guest", description="where the workloads run: in the guest itself, or in a Docker "
                             "container inside it, from the same image (how most containers "
                             "run in production: on a cloud VM)")
    tcg_cache_mib: Annotated[int, Field(ge=1)] | None = Field(
        None, description="TCG only: the MiB QEMU may keep translated guest code in (its "
                          "tb-size; QEMU's default is up to 1 GiB), host memory a KVM guest "
                          "does not use")

    @model_validator(mode="after")
    def _native_needs_direct(self) -> Self:
        if self.io == "native" and self.cache not in ("none", "directsync"):
            raise ValueError("io 'native' needs cache 'none' or 'directsync' (QEMU opens the "
                             "disk with O_DIRECT for native AIO)")
        return self


NESTED_WORKLOADS = "container"
"""A VM's ``workloads`` option that runs them in a container inside its guest."""


def nested_declared(kind: str, options: Mapping[str, object]) -> bool:
    """Whether a VM's options as declared (not yet validated) run its workloads in a
    container."""
    return kind == Kind.VM and options.get("workloads") == NESTED_WORKLOADS


NESTED_AS = {"network": "host"}
"""How the container inside a VM runs, as a container's changed options: on its guest's network
(image/overlay's hostbench-nested), so that the host reaches its services at the VM's address."""


OPTIONS_BY_KIND: dict[Kind, type[Record]] = {Kind.CONTAINER: ContainerOptions,
                                              Kind.VM: VmOptions}
KVM_ONLY = {"cpu_model": "host-passthrough"}
"""Option values that exist only under KVM, refused where the VM runs under TCG."""


def options_of_its_kind(data: Any) -> Any:
    """A record's ``options`` read as the options model of its ``kind`` (for a before-validator:
    a VM's and a container's options are told apart by the kind beside them)."""
    if isinstance(data, dict) and data.get("kind") in KIND_ORDER:
        model = OPTIONS_BY_KIND.get(Kind(data["kind"]))
        options = data.get("options")
        if model is None:
            if options:
                raise ValueError(f"a {data['kind']} environment takes no options")
            return {**data, "options": None}
        if not isinstance(options, model):
            data = {**data, "options": model.model_validate(options or {})}
    return data


class Environment(Record):
    """One environment of a stack; ``accel`` says how a VM ran (KVM or TCG emulation)."""

    name: EnvName
    kind: Kind
    variant_of: EnvName | None = None
    accel: Accel | None = None
    options: ContainerOptions | VmOptions | None = None

    _options = model_validator(mode="before")(options_of_its_kind)

    @property
    def container(self) -> ContainerOptions:
        assert isinstance(self.options, ContainerOptions), f"{self.name} is a {self.kind}"
        return self.options

    @property
    def vm(self) -> VmOptions:
        assert isinstance(self.options, VmOptions), f"{self.name} is a {self.kind}"
        return self.options

    @property
    def label(self) -> str:
        """The name as reports show it: a TCG VM is software emulation and says so everywhere."""
        if self.kind is Kind.VM:
            return f"{self.name} ({'TCG emulation' if self.accel == 'tcg' else 'KVM'})"
        return self.name

    @property
    def nested(self) -> bool:
        """A VM whose workloads run in a container inside its guest."""
        return isinstance(self.options, VmOptions) and self.options.workloads == NESTED_WORKLOADS

    @property
    def is_baseline(self) -> bool:
        return self.name == BASELINE

    @property
    def description(self) -> str:
        """The label and what the environment changes: ``gvisor [runtime: runsc]``."""
        changed = ", ".join(f"{k}: {v}" for k, v in self.changed_options().items())
        return f"{self.label} [{changed}]" if changed else self.label

    def changed_options(self) -> dict[str, str]:
        """The options that differ from their defaults (what makes a variant a variant)."""
        if self.options is None:
            return {}
        return self.options.model_dump(exclude_defaults=True)


BASELINE = "bare"
BARE_METAL = Environment(name=BASELINE, kind=Kind.BARE)
DEFAULT_ENVIRONMENTS = (Environment(name="vm", kind=Kind.VM),
                        Environment(name="container", kind=Kind.CONTAINER))
"""What a stack builds when its config lists no environments (bare metal comes on top)."""
