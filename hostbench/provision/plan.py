"""One resource plan for both backends: names, sizes, volumes, network, ports, limits, the
markers that say what a stack owns and where things live on its host, derived once from the
stack spec and the image, without side effects. The Pulumi program and the direct backend
(`fab up`) both declare exactly what this says, and read the stack through it alone."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from hostbench.image.manifest import CONTAINER_INIT, ImageManifest
from hostbench.paths import libvirt_pool_dir, stack_state_dir
from hostbench.provision.domain_xslt import domain_xslt
from hostbench.stack.environments import BASELINE
from hostbench.stack.environments import Environment as Environment
from hostbench.stack.environments import Kind as Kind
from hostbench.stack.host import Host as Host
from hostbench.stack.host import RemoteHost as RemoteHost
from hostbench.stack.host import host_for, libvirt_uri_for
from hostbench.stack.spec import StackSpec, cpuset
from hostbench.stack.targets import LOOPBACK as LOOPBACK
from hostbench.stack.targets import SCRATCH_DIR as SCRATCH_DIR
from hostbench.stack.targets import SSH_USER, ImageRef, Target, Targets

GIB = 1024**3
BOOT_TIMEOUT_S = 900
"""A TCG guest boots to a DHCP lease in 25-75 s here; slower hosts get room."""
SSH_PORT = 22
"""sshd's port inside a VM and inside a container on Docker's bridge."""
AUTHORIZED_KEYS = PurePosixPath("/root/.ssh/authorized_keys")
"""Where a container's sshd finds the stack key (a VM gets it from its cloud-init seed)."""
AUTHORIZED_KEYS_MODE = 0o600
SSH_DIR_MODE = 0o700
STACK_LABEL = "hostbench.stack"
"""The Docker label that marks a container as the stack's, whatever the plan names."""
ENV_LABEL = "hostbench.env"
COMPLETE = "complete"
"""On a remote host: the file that says an image's tree arrived whole (it holds the hash)."""


NO_IMAGE = ImageManifest(hash="", docker_tag="", suite="", mirror="", built_at="", rootfs="",
                         disk="", raw_disk="", kernel="", initrd="", kernel_cmdline="",
                         packages={}, binaries={})
"""Stands in for an image that is gone: removing a stack needs only the names of its parts."""


CONTAINER_RESTART = "unless-stopped"
"""Containers come back with the engine after it restarts, so a run can be resumed; one stopped
or killed on purpose stays stopped."""


def pulumi_duration(seconds: int) -> str:
    """A timeout in seconds as Pulumi's custom timeouts spell it (a Go duration)."""
    return f"{seconds}s"


def owner_marker(stack: str) -> str:
    """How a domain's description starts when it belongs to ``stack`` (`fab down` finds a
    variant removed from the stack config by it)."""
    return f"hostbench stack {stack},"


@dataclass(frozen=True)
class HostPlan:
    """The host the stack runs on, as the stack names it: this machine (no destination), or a
    host over SSH, opened (its OpenSSH config written) only by ``open``."""

    stack: str
    destination: str | None
    port: int | None
    identity_file: str | None

    @property
    def remote(self) -> bool:
        return self.destination is not None

    def open(self) -> Host:
        """The host to run commands on and reach the daemons of."""
        return host_for(self.stack, self.destination, self.port, self.identity_file)


@dataclass(frozen=True)
class HostLayout:
    """Where hostbench keeps things on a remote host: each image's tree and VM volumes, and the
    stacks' scratch directories, below ``root``."""

    root: Path
    image_hash: str
    stack: str

    @property
    def images(self) -> Path:
        return self.root / "images"

    @property
    def image_dir(self) -> Path:
        """Where the image with ``image_hash`` is delivered."""
        return self.images / self.image_hash[:16]

    @property
    def rootfs(self) -> Path:
        return self.image_dir / "rootfs"

    @property
    def complete(self) -> Path:
        return self.image_dir / COMPLETE

    @property
    def vm_volumes(self) -> Path:
        """The directory of the image's VM volume pool."""
        return self.image_dir / "vm"

    @property
    def scratch(self) -> Path:
        return self.root / "scratch"

    @property
    def stack_scratch(self) -> Path:
        return self.scratch / self.stack

    @property
    def shared_dirs(self) -> tuple[Path, ...]:
        """hostbench's directories there, innermost first: removed once empty."""
        return (self.images, self.scratch, self.root)


@dataclass(frozen=True)
class NetworkPlan:
    """The libvirt NAT network the VMs share (the host is its gateway)."""

    name: str
    bridge: str
    cidr: str
    gateway: str
    prefix: int
    dhcp_first: str
    dhcp_last: str


@dataclass(frozen=True)
class VolumePlan:
    """A volume in the stack's pool: uploaded from ``source`` (its size is the file's), or an
    overlay of ``size_bytes`` on ``backing``."""

    name: str
    format: str
    source: str | None = None
    backing: str | None = None  # name of the volume it is an overlay on
    size_bytes: int | None = None


NESTED_CONTAINER = "hostbench-nested"
"""The name of the container a VM's workloads run in, inside its guest (image/overlay's
hostbench-nested names it so too)."""


@dataclass(frozen=True)
class NestedPlan:
    """The container a VM with ``workloads: container`` runs its workloads in: all the guest's
    vCPUs and the VM's memory (no swap), like the outer container's share of the host; on the
    guest's network, its sshd on the guest's loopback at ``ssh_port``, reached through the
    guest's sshd."""

    ssh_port: int
    cpuset: str  # the guest's vCPUs
    memory_mib: int

    @property
    def declaration(self) -> str:
        """How the VM's NoCloud seed declares it (image/overlay's hostbench-seed reads it)."""
        return f"port={self.ssh_port} cpuset={self.cpuset} memory_mib={self.memory_mib}"


@dataclass(frozen=True)
class VmPlan:
    env: Environment
    domain: str
    description: str
    domain_type: str  # libvirt's: kvm, or qemu (TCG)
    vcpus: int
    cores: tuple[int, ...]
    memory_mib: int
    cpu_mode: str | None  # host-passthrough under KVM; QEMU's default model otherwise
    root: VolumePlan
    seed: str  # name of the NoCloud seed volume (an ISO labelled cidata)
    kernel_cmdline: str
    xslt: str  # pinning: vCPU i on cores[i], emulator threads on the same cores
    nested: NestedPlan | None = None  # the container inside the guest the workloads run in


@dataclass(frozen=True)
class ContainerPlan:
    env: Environment
    name: str
    image: str  # Docker tag
    cpuset: str
    memory_mib: int
    memory_swap_mib: int  # memory and swap together: the memory alone, no swap
    ssh_port: int  # on LOOPBACK only: published from the bridge, or sshd's own on the host's
    scratch_dir: Path | None  # host directory bind-mounted at SCRATCH_DIR (None: overlay)
    labels: dict[str, str]
    runtime: str  # runc, or runsc (gVisor)
    network_mode: str  # bridge (NAT) or host
    security_opts: tuple[str, ...]
    command: tuple[str, ...]  # the image's command with sshd options (empty: the image's own)

    @property
    def host_network(self) -> bool:
        """On the host's network nothing is published: sshd itself listens on LOOPBACK, and
        the host is LOOPBACK from inside too."""
        return self.network_mode == "host"


@dataclass(frozen=True)
class ResourcePlan:
    stack: str
    spec: StackSpec  # carried into the targets document; the backends read the fields below
    image: ImageManifest
    manifest_path: str
    accel: str
    host: HostPlan
    remote_layout: HostLayout | None  # None on this machine
    libvirt_uri: str
    pool: str
    pool_path: Path
    network: NetworkPlan
    base_disk: VolumePlan
    kernel: VolumePlan
    initrd: VolumePlan
    vms: tuple[VmPlan, ...]
    containers: tuple[ContainerPlan, ...]
    scratch_root: Path  # the scratch directories of the containers and bare metal are below it
    rootfs: str  # the image's tree on the host: bare metal, host-side servers

    @property
    def prefix(self) -> str:
        """Name prefix of every container, domain, volume, pool and network of the stack."""
        return f"hostbench-{self.stack}"

    @property
    def owner_label(self) -> str:
        """The label filter that finds the stack's containers."""
        return f"{STACK_LABEL}={self.stack}"

    @property
    def image_pool(self) -> str:
        """A remote host's pool of this image's VM volumes (kept across stacks and `fab down`)."""
        return f"hostbench-image-{self.image.hash[:12]}"

    @property
    def image_ref(self) -> ImageRef:
        return ImageRef(hash=self.image.hash, docker_tag=self.image.docker_tag,
                        manifest=self.manifest_path)


def libvirt_domain_type(accel: str) -> str:
    return "kvm" if accel == "kvm" else "qemu"


def _network(spec: StackSpec, prefix: str) -> NetworkPlan:
    net = ipaddress.ip_network(spec.network_cidr)
    hosts = list(net.hosts())
    return NetworkPlan(name=prefix, bridge=f"hb-{spec.stack}"[:15], cidr=spec.network_cidr,
                       gateway=str(hosts[0]), prefix=net.prefixlen, dhcp_first=str(hosts[1]),
                       dhcp_last=str(hosts[-1]))


def resource_name(prefix: str, env: Environment) -> str:
    """The environment named like its kind (the default ``vm``, ``container``) takes the stack's
    prefix itself; a variant adds its own name."""
    return prefix if env.name == env.kind.value else f"{prefix}-{env.name}"


def _cpu_mode(spec: StackSpec, env: Environment) -> str | None:
    model = env.vm.cpu_model
    if model == "host-passthrough" or (model == "auto" and spec.accel == "kvm"):
        return "host-passthrough"
    return None


def _vm(spec: StackSpec, image: ImageManifest, env: Environment, name: str, base: VolumePlan,
        memory_mib: int, cores: tuple[int, ...] | None = None, role: str = "environment",
        nested_port: int | None = None) -> VmPlan:
    """A VM of ``env``, its vCPUs pinned to ``cores`` (the stack's by default), its description
    the stack's marker and ``role``; with ``nested_port``, the container inside it that its
    workloads run in."""
    options = env.vm
    cores = cores or spec.cores
    nested = None if nested_port is None else NestedPlan(
        ssh_port=nested_port, cpuset=cpuset(tuple(range(len(cores)))), memory_mib=memory_mib)
    root = (VolumePlan(f"{name}-root.raw", "raw", source=image.raw_disk)
            if options.disk == "raw" else
            VolumePlan(f"{name}-root.qcow2", "qcow2", backing=base.name,
                       size_bytes=spec.disk_gib * GIB))
    return VmPlan(
        env=env, domain=name, description=f"{owner_marker(spec.stack)} {role} {env.name}",
        domain_type=libvirt_domain_type(spec.accel), vcpus=len(cores), cores=cores,
        memory_mib=memory_mib, cpu_mode=_cpu_mode(spec, env), root=root,
        seed=f"{name}-seed.iso", kernel_cmdline=image.kernel_cmdline,
        xslt=domain_xslt(cores, options.cache, options.io, options.tcg_cache_mib),
        nested=nested)


def _container(spec: StackSpec, image: ImageManifest, env: Environment, name: str, port: int,
               scratch_dir: Path | None, memory_mib: int) -> ContainerPlan:
    options = env.container
    host_network = options.network == "host"
    return ContainerPlan(
        env=env, name=name, image=image.docker_tag, cpuset=spec.cpuset,
        memory_mib=memory_mib, memory_swap_mib=memory_mib, ssh_port=port,
        scratch_dir=scratch_dir if options.storage == "volume" else None,
        labels={STACK_LABEL: spec.stack, ENV_LABEL: env.name},
        runtime=options.runtime, network_mode=options.network,
        security_opts=("seccomp=unconfined",) if options.seccomp == "unconfined" else (),
        command=(CONTAINER_INIT, "-o", f"ListenAddress={LOOPBACK}", "-o", f"Port={port}")
        if host_network else ())


def image_volumes(plan: ResourcePlan) -> dict[str, VolumePlan]:
    """What a remote host's image pool holds, by the source file each is a copy of (the raw disk
    only when a VM of the stack boots from it)."""
    vols = [VolumePlan("disk.qcow2", "qcow2", source=plan.base_disk.source),
            VolumePlan("vmlinuz", "raw", source=plan.kernel.source),
            VolumePlan("initrd.img", "raw", source=plan.initrd.source)]
    if any(vm.root.source for vm in plan.vms):
        vols.append(VolumePlan("disk.raw", "raw", source=plan.image.raw_disk))
    return {vol.source or "": vol for vol in vols}


def resource_plan(spec: StackSpec, image: ImageManifest) -> ResourcePlan:
    """The stack's resources; pure: it writes nothing and reaches no host."""
    prefix = f"hostbench-{spec.stack}"
    layout = None
    if spec.host is None:
        scratch_root, rootfs = stack_state_dir(spec.stack) / "scratch", image.rootfs
    else:
        layout = HostLayout(Path(spec.host_dir), image.hash, spec.stack)
        scratch_root, rootfs = layout.stack_scratch, str(layout.rootfs)
    base = VolumePlan(f"{prefix}-base.qcow2", "qcow2", source=image.disk)
    vms: list[VmPlan] = []
    containers: list[ContainerPlan] = []
    ports = iter(spec.ssh_ports)
    for env in spec.all_environments:  # the outer containers take the first ports
        if env.kind is Kind.CONTAINER:
            containers.append(_container(spec, image, env, resource_name(prefix, env),
                                         next(ports), scratch_root / env.name, spec.memory_mib))
    for env in spec.all_environments:
        if env.kind is Kind.VM:
            vms.append(_vm(spec, image, env, resource_name(prefix, env), base, spec.memory_mib,
                           nested_port=next(ports) if env.nested else None))
    return ResourcePlan(
        stack=spec.stack, spec=spec, image=image, manifest_path=spec.image_manifest,
        accel=spec.accel, host=HostPlan(spec.stack, spec.host, spec.host_port,
                                        spec.host_identity_file),
        remote_layout=layout, libvirt_uri=libvirt_uri_for(spec.stack, spec.host, spec.host_port),
        pool=prefix, pool_path=libvirt_pool_dir(prefix),
        network=_network(spec, prefix), base_disk=base,
        kernel=VolumePlan(f"{prefix}-vmlinuz", "raw", source=image.kernel),
        initrd=VolumePlan(f"{prefix}-initrd.img", "raw", source=image.initrd),
        vms=tuple(vms), containers=tuple(containers), scratch_root=scratch_root,
        rootfs=rootfs)


def extra_vm(plan: ResourcePlan, vm: VmPlan, index: int, memory_mib: int) -> VmPlan:
    """Another instance of the stack's VM ``vm`` (density): its own domain, root volume and seed,
    the same cores and options, ``memory_mib`` of memory."""
    return _vm(plan.spec, plan.image, vm.env, f"{vm.domain}-x{index}", plan.base_disk,
               memory_mib)


def neighbour_vm(plan: ResourcePlan, vm: VmPlan, cores: tuple[int, ...]) -> VmPlan:
    """A stressing neighbour of the stack's VM ``vm`` (`fab benchmark --neighbour`): its own
    domain, volumes and address, its vCPUs (as many as ``vm``'s) pinned in turn to ``cores``,
    the same memory and options, marked as the stack's so `fab down` removes it."""
    pins = tuple(cores[i % len(cores)] for i in range(vm.vcpus))
    return _vm(plan.spec, plan.image, vm.env, f"{vm.domain}-neighbour", plan.base_disk,
               vm.memory_mib, pins, "neighbour of")


def extra_container(plan: ResourcePlan, ctr: ContainerPlan, index: int, port: int,
                    memory_mib: int) -> ContainerPlan:
    """Another instance of the stack's container ``ctr`` (density): its own name and SSH port,
    the same cores and options, ``memory_mib`` of memory, no scratch directory."""
    return _container(plan.spec, plan.image, ctr.env, f"{ctr.name}-x{index}", port, None,
                      memory_mib)


def targets_document(plan: ResourcePlan, private_key: str, vm_addresses: dict[str, str],
                     container_gateways: dict[str, str]) -> Targets:
    """The targets of the provisioned stack: per environment, how to reach it, and where the
    host is as seen from inside it (where host-side servers listen for it)."""
    spec = plan.spec
    common = {"cores": spec.cores, "memory_mib": spec.memory_mib}
    targets = {BASELINE: Target(name=BASELINE, kind=Kind.BARE, rootfs=plan.rootfs,
                                scratch=str(plan.scratch_root / BASELINE),
                                host_address=LOOPBACK, **common)}
    for vm in plan.vms:
        targets[vm.env.name] = Target(
            name=vm.env.name, kind=Kind.VM, variant_of=vm.env.variant_of, options=vm.env.options,
            host=vm_addresses[vm.env.name], port=SSH_PORT, user=SSH_USER, domain=vm.domain,
            accel=spec.accel, host_address=plan.network.gateway,
            nested_port=vm.nested.ssh_port if vm.nested else None, **common)
    for ctr in plan.containers:
        targets[ctr.env.name] = Target(
            name=ctr.env.name, kind=Kind.CONTAINER, variant_of=ctr.env.variant_of,
            options=ctr.env.options, host=LOOPBACK, port=ctr.ssh_port, user=SSH_USER,
            container=ctr.name, host_address=LOOPBACK if ctr.host_network
            else container_gateways[ctr.env.name], **common)
    return Targets(stack=plan.stack, spec=spec, image=plan.image_ref, targets=targets,
                   ssh_private_key=private_key)

