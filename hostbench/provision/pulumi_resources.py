"""The resource plan declared with pulumi-libvirt and pulumi-docker, one ComponentResource per
environment (a VM: root volume, seed and domain; a container: image and container) and one for
the network, pool and image volumes the VMs share. It reads the stack through the plan alone."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pulumi
import pulumi_docker as docker
import pulumi_libvirt as libvirt

from hostbench.errors import HostbenchError
from hostbench.provision.cmdline import cmdline_maps
from hostbench.provision.plan import (
    AUTHORIZED_KEYS,
    AUTHORIZED_KEYS_MODE,
    BOOT_TIMEOUT_S,
    CONTAINER_RESTART,
    LOOPBACK,
    SCRATCH_DIR,
    SSH_PORT,
    ContainerPlan,
    RemoteHost,
    ResourcePlan,
    VmPlan,
    pulumi_duration,
)
from hostbench.provision.seed import meta_data, user_data


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
        nested = vm.nested.declaration if vm.nested else None
        seed = libvirt.CloudInitDisk(f"{vm.domain}-seed", name=vm.seed, pool=shared.pool.name,
                                     user_data=user_data(public_key, nested),
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
                                            create=pulumi_duration(BOOT_TIMEOUT_S))))
        self.address = self.domain.network_interfaces.apply(_vm_address)
        self.register_outputs({"address": self.address, "domain": self.domain.name})


def pulumi_libvirt_uri(plan: ResourcePlan) -> str:
    """The provider's own SSH client (not OpenSSH) takes the key and the pinned host keys as
    URI parameters; on this machine, the plan's URI."""
    host = plan.host.open()
    if not isinstance(host, RemoteHost):
        return plan.libvirt_uri
    return host.libvirt_uri_with(known_hosts=str(host.known_hosts),
                                 keyfile=str(Path(host.identity_file).expanduser())
                                 if host.identity_file else None)


def docker_provider(plan: ResourcePlan) -> docker.Provider | None:
    """A remote host's Docker engine over ssh://, with the stack's OpenSSH config; None for
    this machine's (the default provider)."""
    host = plan.host.open()
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
            memory_swap=ctr.memory_swap_mib, runtime=ctr.runtime, network_mode=ctr.network_mode,
            security_opts=list(ctr.security_opts) or None,
            ports=None if ctr.host_network else [docker.ContainerPortArgs(
                internal=SSH_PORT, external=ctr.ssh_port, ip=LOOPBACK)],
            uploads=[docker.ContainerUploadArgs(file=str(AUTHORIZED_KEYS),
                                                content=public_key + "\n",
                                                permissions=f"{AUTHORIZED_KEYS_MODE:04o}")],
            volumes=None if ctr.scratch_dir is None else [docker.ContainerVolumeArgs(
                host_path=str(ctr.scratch_dir), container_path=SCRATCH_DIR)],
            labels=[docker.ContainerLabelArgs(label=k, value=v) for k, v in ctr.labels.items()],
            must_run=True, restart=CONTAINER_RESTART, opts=opts)
        self.gateway = self.container.network_datas.apply(_gateway)
        self.register_outputs({"gateway": self.gateway, "name": self.container.name})


def _vm_address(nics: Sequence[libvirt.outputs.DomainNetworkInterface] | None) -> str:
    """The VM's address: the domain is created only once it has its lease (wait_for_lease)."""
    addresses = nics[0].addresses if nics else None
    if not addresses:
        raise HostbenchError("the VM has no address, though its domain waited for a DHCP lease")
    return addresses[0]


def _gateway(networks: Sequence[docker.outputs.ContainerNetworkData] | None) -> str:
    """The container's gateway, its host's address from inside; none on the host's network."""
    return (networks[0].gateway if networks else None) or ""
