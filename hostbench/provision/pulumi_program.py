"""The Pulumi program: the resource plan declared with pulumi-libvirt and pulumi-docker.

Each environment's resources are grouped in a ComponentResource (a VM: root volume, seed and
domain; a container: image and container); the network, pool and image volumes the VMs share
are a component of their own. Their outputs feed the targets export, the same document `fab up`
saves.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pulumi
import pulumi_docker as docker
import pulumi_libvirt as libvirt

from hostbench.errors import ConfigError, HostbenchError
from hostbench.image.manifest import load_manifest
from hostbench.provision.cmdline import cmdline_maps
from hostbench.provision.networks import check_network
from hostbench.provision.plan import (
    CONTAINER_RESTART,
    ContainerPlan,
    ResourcePlan,
    VmPlan,
    resource_plan,
    targets_document,
)
from hostbench.provision.seed import meta_data, user_data
from hostbench.stack.host import RemoteHost
from hostbench.stack.keys import ensure_stack_key
from hostbench.stack.spec import PREFIX, PROJECT, StackConfig, spec_from_mapping
from hostbench.stack.targets import SCRATCH_DIR

DOMAIN_CREATE_TIMEOUT = "15m"
"""A TCG guest boots to a DHCP lease in 25-75 s here; leave room for slow hosts."""


def stack_config() -> dict[str, Any]:
    """This stack's `hostbench:*` config values, keys without the prefix."""
    values = {}
    for full_key in pulumi.runtime.config.CONFIG.get():
        namespace, _, key = full_key.partition(":")
        if namespace == PROJECT:
            values[key] = pulumi.runtime.config.get_config(full_key)
    for key in StackConfig.model_fields:
        value = pulumi.Config(PROJECT).get(key)
        if value is not None:
            values[key] = value
    return values


class LibvirtShared(pulumi.ComponentResource):
    """What every VM of the stack uses: the provider, NAT network, pool and image volumes."""

    def __init__(self, plan: ResourcePlan) -> None:
        super().__init__("hostbench:libvirt:Shared", f"{plan.prefix}-libvirt")
        self.provider = libvirt.Provider("libvirt", uri=pulumi_libvirt_uri(plan),
                                         opts=pulumi.ResourceOptions(parent=self))
        opts = pulumi.ResourceOptions(provider=self.provider, parent=self)
        net = plan.network
        self.pool = libvirt.Pool(f"{plan.pool}-pool", name=plan.pool, type="dir",
                                 target=libvirt.PoolTargetArgs(path=str(plan.pool_path)),
                                 opts=opts)
        self.network = libvirt.Network(
            f"{net.name}-net", name=net.name, mode="nat", bridge=net.bridge,
            addresses=[net.cidr], dhcp=libvirt.NetworkDhcpArgs(enabled=True), autostart=False,
            opts=opts)
        self.volumes = {vol.name: libvirt.Volume(
            f"{plan.prefix}-{role}", name=vol.name, pool=self.pool.name, source=vol.source,
            format=vol.format, opts=opts)
            for role, vol in (("base", plan.base_disk), ("kernel", plan.kernel),
                              ("initrd", plan.initrd))}
        self.register_outputs({"network": self.network.name, "pool": self.pool.name})


class VmEnvironment(pulumi.ComponentResource):
    """One VM environment: its root volume (an overlay on the image), seed and domain."""

    def __init__(self, plan: ResourcePlan, vm: VmPlan, shared: LibvirtShared,
                 public_key: str) -> None:
        super().__init__("hostbench:env:Vm", vm.domain)
        opts = pulumi.ResourceOptions(provider=shared.provider, parent=self)
        if vm.root.backing is not None:  # a qcow2 overlay on the image
            root = libvirt.Volume(f"{vm.domain}-root", name=vm.root.name, pool=shared.pool.name,
                                  base_volume_id=shared.volumes[vm.root.backing].id,
                                  size=vm.root.size_bytes, format=vm.root.format, opts=opts)
        else:  # a copy of the image's raw disk
            root = libvirt.Volume(f"{vm.domain}-root", name=vm.root.name, pool=shared.pool.name,
                                  source=vm.root.source, format=vm.root.format, opts=opts)
        seed = libvirt.CloudInitDisk(f"{vm.domain}-seed", name=vm.seed, pool=shared.pool.name,
                                     user_data=user_data(public_key),
                                     meta_data=meta_data(vm.domain), opts=opts)
        self.domain = libvirt.Domain(
            f"{vm.domain}-vm", name=vm.domain, description=vm.description, type=vm.domain_type,
            vcpu=vm.vcpus, memory=vm.memory_mib,
            cpu=libvirt.DomainCpuArgs(mode=vm.cpu_mode) if vm.cpu_mode else None,
            kernel=shared.volumes[plan.kernel.name].id,
            initrd=shared.volumes[plan.initrd.name].id,
            cmdlines=cmdline_maps(vm.kernel_cmdline),
            disks=[libvirt.DomainDiskArgs(volume_id=root.id)],
            cloudinit=seed.id,
            network_interfaces=[libvirt.DomainNetworkInterfaceArgs(
                network_id=shared.network.id, hostname=vm.domain, wait_for_lease=True)],
            consoles=[libvirt.DomainConsoleArgs(type="pty", target_port="0",
                                                target_type="serial")],
            xml=libvirt.DomainXmlArgs(xslt=vm.xslt),
            running=True,
            opts=pulumi.ResourceOptions(provider=shared.provider, parent=self,
                                        custom_timeouts=pulumi.CustomTimeouts(
                                            create=DOMAIN_CREATE_TIMEOUT)))
        self.address = self.domain.network_interfaces.apply(_vm_address)
        self.register_outputs({"address": self.address, "domain": self.domain.name})


def pulumi_libvirt_uri(plan: ResourcePlan) -> str:
    """The provider's own SSH client (not OpenSSH) takes the key and the pinned host keys as
    URI parameters; on this machine, the plan's URI."""
    host = plan.spec.machine
    if not isinstance(host, RemoteHost):
        return plan.libvirt_uri
    return host.libvirt_uri_with(known_hosts=str(host.known_hosts),
                                 keyfile=str(Path(host.identity_file).expanduser())
                                 if host.identity_file else None)


def docker_provider(plan: ResourcePlan) -> docker.Provider | None:
    """A remote host's Docker engine over ssh://, with the stack's OpenSSH config; None for
    this machine's (the default provider)."""
    host = plan.spec.machine
    if not isinstance(host, RemoteHost):
        return None
    return docker.Provider("docker", host=host.docker_host,
                           ssh_opts=["-F", str(host.config_file)])


class ContainerEnvironment(pulumi.ComponentResource):
    """One container environment: the image (kept where the engine is; on a remote host,
    delivered by `fab deliver`) and the pinned container."""

    def __init__(self, ctr: ContainerPlan, public_key: str,
                 provider: docker.Provider | None = None) -> None:
        super().__init__("hostbench:env:Container", ctr.name)
        opts = pulumi.ResourceOptions(parent=self, provider=provider)
        image = docker.RemoteImage(f"{ctr.name}-image", name=ctr.image, keep_locally=True,
                                   opts=opts)
        self.container = docker.Container(
            f"{ctr.name}-ctr", name=ctr.name, image=image.image_id, hostname=ctr.name,
            command=list(ctr.command) or None, cpu_set=ctr.cpuset, memory=ctr.memory_mib,
            memory_swap=ctr.memory_mib, runtime=ctr.runtime, network_mode=ctr.network_mode,
            security_opts=list(ctr.security_opts) or None,
            ports=None if ctr.host_network else [docker.ContainerPortArgs(
                internal=22, external=ctr.ssh_port, ip="127.0.0.1")],
            uploads=[docker.ContainerUploadArgs(file="/root/.ssh/authorized_keys",
                                                content=public_key + "\n", permissions="0600")],
            volumes=None if ctr.scratch_dir is None else [docker.ContainerVolumeArgs(
                host_path=str(ctr.scratch_dir), container_path=SCRATCH_DIR)],
            labels=[docker.ContainerLabelArgs(label=k, value=v) for k, v in ctr.labels.items()],
            must_run=True, restart=CONTAINER_RESTART, opts=opts)
        self.gateway = self.container.network_datas.apply(_gateway)
        self.register_outputs({"gateway": self.gateway, "name": self.container.name})


def declare_stack() -> None:
    """The whole program: validated config -> resource plan -> components -> outputs."""
    stack = pulumi.get_stack()
    spec = spec_from_mapping(stack, stack_config(), f"stacks/Pulumi.{stack}.yaml")
    try:
        image = load_manifest(Path(spec.image_manifest))
    except ConfigError as exc:
        raise ConfigError(spec.source, f"{PREFIX}image_manifest", str(exc)) from None
    plan = resource_plan(spec, image)
    if plan.vms:
        check_network(spec, plan.network)
    key = ensure_stack_key(stack)
    shared = LibvirtShared(plan) if plan.vms else None
    vms = {vm.env.name: VmEnvironment(plan, vm, shared, key.public_openssh)
           for vm in plan.vms if shared is not None}
    provider = docker_provider(plan) if plan.containers else None
    containers = {ctr.env.name: ContainerEnvironment(ctr, key.public_openssh, provider)
                  for ctr in plan.containers}
    addresses = _all({name: vm.address for name, vm in vms.items()})
    gateways = _all({name: c.gateway for name, c in containers.items()})
    targets = pulumi.Output.all(addresses, gateways).apply(
        lambda found: targets_json(plan, key.private_openssh, found[0], found[1]))
    pulumi.export("stack", stack)
    pulumi.export("spec", spec.model_dump(mode="json"))
    pulumi.export("image", plan.image_ref.model_dump(mode="json"))
    pulumi.export("targets", targets)
    pulumi.export("ssh_private_key", pulumi.Output.secret(key.private_openssh))


def _vm_address(nics: Sequence[libvirt.outputs.DomainNetworkInterface] | None) -> str:
    """The VM's address: the domain is created only once it has its lease (wait_for_lease)."""
    addresses = nics[0].addresses if nics else None
    if not addresses:
        raise HostbenchError("the VM has no address, though its domain waited for a DHCP lease")
    return addresses[0]


def _gateway(networks: Sequence[docker.outputs.ContainerNetworkData] | None) -> str:
    """The container's gateway, its host's address from inside; none on the host's network."""
    return (networks[0].gateway if networks else None) or ""


def _all(outputs: dict[str, pulumi.Output[str]]) -> pulumi.Output[dict[str, str]]:
    return pulumi.Output.all(**outputs) if outputs else pulumi.Output.from_input({})


def targets_json(plan: ResourcePlan, private_key: str, addresses: dict[str, str],
                 gateways: dict[str, str]) -> dict[str, Any]:
    """The `targets` output: the targets document's entries (the key is its own secret)."""
    return targets_document(plan, private_key, addresses, gateways).model_dump(
        mode="json", exclude_none=True)["targets"]
