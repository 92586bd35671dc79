"""One resource plan for both backends: names, sizes, volumes, network, ports and limits,
derived once from the stack spec and the image. The Pulumi program and the direct backend
(`fab up`) both declare exactly what this says."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path

from hostbench.image.manifest import CONTAINER_INIT, ImageManifest
from hostbench.paths import libvirt_pool_dir, stack_state_dir
from hostbench.provision.domain_xslt import domain_xslt
from hostbench.stack.environments import BASELINE, Environment, Kind
from hostbench.stack.spec import StackSpec
from hostbench.stack.targets import SSH_USER, ImageRef, Target, Targets

GIB = 1024**3
BOOT_TIMEOUT_S = 900
"""A TCG guest boots to a DHCP lease in 25-75 s here; slower hosts get room."""


NO_IMAGE = ImageManifest(hash="", docker_tag="", suite="", mirror="", built_at="", rootfs="",
                         disk="", raw_disk="", kernel="", initrd="", kernel_cmdline="",
                         packages={}, binaries={})
"""Stands in for an image that is gone: removing a stack needs only the names of its parts."""


CONTAINER_RESTART = "unless-stopped"
"""Containers come back with the engine after it restarts, so a run can be resumed; one stopped
or killed on purpose stays stopped."""


@dataclass(frozen=True)
class NetworkPlan:
    """The libvirt NAT network the VMs share (the host is its gateway)."""

    name: str
    bridge: str
    cidr: str
    gateway: str
    netmask: str
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


@dataclass(frozen=True)
class ContainerPlan:
    env: Environment
    name: str
    image: str  # Docker tag
    cpuset: str
    memory_mib: int
    ssh_port: int  # on 127.0.0.1 only: published from the bridge, or sshd's own on the host's
    scratch_dir: Path | None  # host directory bind-mounted at SCRATCH_DIR (None: overlay)
    labels: dict[str, str]
    runtime: str  # runc, or runsc (gVisor)
    network_mode: str  # bridge (NAT) or host
    security_opts: tuple[str, ...]
    command: tuple[str, ...]  # the image's command with sshd options (empty: the image's own)

    @property
    def host_network(self) -> bool:
        """On the host's network nothing is published: sshd itself listens on 127.0.0.1, and
        the host is 127.0.0.1 from inside too."""
        return self.network_mode == "host"


@dataclass(frozen=True)
class ResourcePlan:
    stack: str
    spec: StackSpec
    image: ImageManifest
    manifest_path: str
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
    def image_ref(self) -> ImageRef:
        return ImageRef(hash=self.image.hash, docker_tag=self.image.docker_tag,
                        manifest=self.manifest_path)


def libvirt_domain_type(accel: str) -> str:
    return "kvm" if accel == "kvm" else "qemu"


def _network(spec: StackSpec, prefix: str) -> NetworkPlan:
    net = ipaddress.ip_network(spec.network_cidr)
    hosts = list(net.hosts())
    return NetworkPlan(name=prefix, bridge=f"hb-{spec.stack}"[:15], cidr=spec.network_cidr,
                       gateway=str(hosts[0]), netmask=str(net.netmask), dhcp_first=str(hosts[1]),
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
        memory_mib: int) -> VmPlan:
    options = env.vm
    root = (VolumePlan(f"{name}-root.raw", "raw", source=image.raw_disk)
            if options.disk == "raw" else
            VolumePlan(f"{name}-root.qcow2", "qcow2", backing=base.name,
                       size_bytes=spec.disk_gib * GIB))
    return VmPlan(
        env=env, domain=name, description=f"hostbench stack {spec.stack}, environment {env.name}",
        domain_type=libvirt_domain_type(spec.accel), vcpus=len(spec.cores), cores=spec.cores,
        memory_mib=memory_mib, cpu_mode=_cpu_mode(spec, env), root=root,
        seed=f"{name}-seed.iso", kernel_cmdline=image.kernel_cmdline,
        xslt=domain_xslt(spec.cores, options.cache, options.io, options.tcg_cache_mib))


def _container(spec: StackSpec, image: ImageManifest, env: Environment, name: str, port: int,
               scratch_dir: Path | None, memory_mib: int) -> ContainerPlan:
    options = env.container
    host_network = options.network == "host"
    return ContainerPlan(
        env=env, name=name, image=image.docker_tag, cpuset=spec.cpuset,
        memory_mib=memory_mib, ssh_port=port,
        scratch_dir=scratch_dir if options.storage == "volume" else None,
        labels={"hostbench.stack": spec.stack, "hostbench.env": env.name},
        runtime=options.runtime, network_mode=options.network,
        security_opts=("seccomp=unconfined",) if options.seccomp == "unconfined" else (),
        command=(CONTAINER_INIT, "-o", "ListenAddress=127.0.0.1", "-o", f"Port={port}")
        if host_network else ())


def host_image_dir(spec: StackSpec, image_hash: str) -> Path:
    """On a remote host: where the image with ``image_hash`` is delivered."""
    return Path(spec.host_dir) / "images" / image_hash[:16]


def resource_plan(spec: StackSpec, image: ImageManifest) -> ResourcePlan:
    prefix = f"hostbench-{spec.stack}"
    if spec.host is None:
        scratch_root, rootfs = stack_state_dir(spec.stack) / "scratch", image.rootfs
    else:
        scratch_root = Path(spec.host_dir) / "scratch" / spec.stack
        rootfs = str(host_image_dir(spec, image.hash) / "rootfs")
    base = VolumePlan(f"{prefix}-base.qcow2", "qcow2", source=image.disk)
    vms: list[VmPlan] = []
    containers: list[ContainerPlan] = []
    for env in spec.all_environments:
        name = resource_name(prefix, env)
        if env.kind is Kind.VM:
            vms.append(_vm(spec, image, env, name, base, spec.memory_mib))
        elif env.kind is Kind.CONTAINER:
            containers.append(_container(spec, image, env, name, spec.ssh_port + len(containers),
                                         scratch_root / env.name, spec.memory_mib))
    return ResourcePlan(
        stack=spec.stack, spec=spec, image=image, manifest_path=spec.image_manifest,
        libvirt_uri=spec.machine.libvirt_uri, pool=prefix, pool_path=libvirt_pool_dir(prefix),
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
                                host_address="127.0.0.1", **common)}
    for vm in plan.vms:
        targets[vm.env.name] = Target(
            name=vm.env.name, kind=Kind.VM, variant_of=vm.env.variant_of, options=vm.env.options,
            host=vm_addresses[vm.env.name], port=22, user=SSH_USER, domain=vm.domain,
            accel=spec.accel, host_address=plan.network.gateway, **common)
    for ctr in plan.containers:
        targets[ctr.env.name] = Target(
            name=ctr.env.name, kind=Kind.CONTAINER, variant_of=ctr.env.variant_of,
            options=ctr.env.options, host="127.0.0.1", port=ctr.ssh_port, user=SSH_USER,
            container=ctr.name, host_address="127.0.0.1" if ctr.host_network
            else container_gateways[ctr.env.name], **common)
    return Targets(stack=plan.stack, spec=spec, image=plan.image_ref, targets=targets,
                   ssh_private_key=private_key)

