"""Declare the stack's resources with pulumi-libvirt and pulumi-docker."""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_docker as docker
import pulumi_libvirt as libvirt

from hostbench.accel import libvirt_domain_type
from hostbench.errors import ConfigError
from hostbench.image.manifest import ImageManifest, load_manifest
from hostbench.infra.cmdline import cmdline_maps
from hostbench.infra.pinning import pinning_xslt
from hostbench.infra.seed import meta_data, user_data
from hostbench.paths import libvirt_pool_dir
from hostbench.spec import PROJECT, STACK_KEYS, StackSpec, spec_from_mapping
from hostbench.sshkeys import ensure_stack_key
from hostbench.targets import (
    SCRATCH_DIR,
    container_scratch_dir,
    image_output,
    spec_output,
    targets_output,
)

LIBVIRT_URI = "qemu:///system"
GIB = 1024**3
# A TCG guest boots to a DHCP lease in 25-75 s here; leave room for slow hosts.
DOMAIN_CREATE_TIMEOUT = "15m"


def stack_config() -> dict[str, Any]:
    """This stack's `hostbench:*` config values, keys without the prefix."""
    values = {}
    for full_key in pulumi.runtime.config.CONFIG.get():
        namespace, _, key = full_key.partition(":")
        if namespace == PROJECT:
            values[key] = pulumi.runtime.config.get_config(full_key)
    for key in STACK_KEYS:
        value = pulumi.Config(PROJECT).get(key)
        if value is not None:
            values[key] = value
    return values


def declare_vm(spec: StackSpec, manifest: ImageManifest, public_key: str) -> libvirt.Domain:
    name = spec.resource_prefix
    provider = libvirt.Provider("libvirt", uri=LIBVIRT_URI)
    opts = pulumi.ResourceOptions(provider=provider)
    pool = libvirt.Pool(f"{name}-pool", name=name, type="dir",
                        target=libvirt.PoolTargetArgs(path=str(libvirt_pool_dir(name))),
                        opts=opts)
    network = libvirt.Network(
        f"{name}-net", name=name, mode="nat", bridge=spec.bridge_name,
        addresses=[spec.network_cidr], dhcp=libvirt.NetworkDhcpArgs(enabled=True),
        autostart=False, opts=opts)
    base = libvirt.Volume(f"{name}-base", name=f"{name}-base.qcow2", pool=pool.name,
                          source=manifest.disk, format="qcow2", opts=opts)
    root = libvirt.Volume(f"{name}-root", name=f"{name}-root.qcow2", pool=pool.name,
                          base_volume_id=base.id, size=spec.disk_gib * GIB, format="qcow2",
                          opts=opts)
    kernel = libvirt.Volume(f"{name}-kernel", name=f"{name}-vmlinuz", pool=pool.name,
                            source=manifest.kernel, format="raw", opts=opts)
    initrd = libvirt.Volume(f"{name}-initrd", name=f"{name}-initrd.img", pool=pool.name,
                            source=manifest.initrd, format="raw", opts=opts)
    seed = libvirt.CloudInitDisk(f"{name}-seed", name=f"{name}-seed.iso", pool=pool.name,
                                 user_data=user_data(public_key), meta_data=meta_data(name),
                                 opts=opts)
    return libvirt.Domain(
        f"{name}-vm", name=name, type=libvirt_domain_type(spec.accel),
        vcpu=spec.vcpus, memory=spec.memory_mib,
        cpu=libvirt.DomainCpuArgs(mode="host-passthrough") if spec.accel == "kvm" else None,
        kernel=kernel.id, initrd=initrd.id, cmdlines=cmdline_maps(manifest.kernel_cmdline),
        disks=[libvirt.DomainDiskArgs(volume_id=root.id)],
        cloudinit=seed.id,
        network_interfaces=[libvirt.DomainNetworkInterfaceArgs(
            network_id=network.id, hostname=name, wait_for_lease=True)],
        consoles=[libvirt.DomainConsoleArgs(type="pty", target_port="0", target_type="serial")],
        xml=libvirt.DomainXmlArgs(xslt=pinning_xslt(spec.cores)),
        running=True,
        opts=pulumi.ResourceOptions(provider=provider,
                                    custom_timeouts=pulumi.CustomTimeouts(
                                        create=DOMAIN_CREATE_TIMEOUT)))


def declare_container(spec: StackSpec, manifest: ImageManifest,
                      public_key: str) -> docker.Container:
    name = spec.resource_prefix
    image = docker.RemoteImage(f"{name}-image", name=manifest.docker_tag, keep_locally=True)
    return docker.Container(
        f"{name}-ctr", name=name, image=image.image_id, hostname=name,
        cpu_set=spec.cpuset, memory=spec.memory_mib, memory_swap=spec.memory_mib,
        ports=[docker.ContainerPortArgs(internal=22, external=spec.ssh_port, ip="127.0.0.1")],
        uploads=[docker.ContainerUploadArgs(file="/root/.ssh/authorized_keys",
                                            content=public_key + "\n", permissions="0600")],
        volumes=[docker.ContainerVolumeArgs(host_path=str(container_scratch_dir(spec.stack)),
                                            container_path=SCRATCH_DIR)],
        must_run=True, restart="no")


def declare_stack() -> None:
    """The whole program: validated config -> VM, container, key, outputs."""
    stack = pulumi.get_stack()
    spec = spec_from_mapping(stack, stack_config(), f"stacks/Pulumi.{stack}.yaml")
    try:
        manifest = load_manifest(spec.image_manifest)
    except ConfigError as exc:
        raise ConfigError(spec.source, f"{PROJECT}:image_manifest", str(exc)) from None
    key = ensure_stack_key(stack)
    domain = declare_vm(spec, manifest, key.public_openssh)
    container = declare_container(spec, manifest, key.public_openssh)
    vm_address = domain.network_interfaces.apply(lambda nics: nics[0].addresses[0])
    pulumi.export("stack", stack)
    pulumi.export("spec", spec_output(spec))
    pulumi.export("image", image_output(manifest, str(spec.image_manifest)))
    gateway = container.network_datas.apply(lambda nets: nets[0].gateway)
    pulumi.export("targets", pulumi.Output.all(vm_address, domain.name, container.name, gateway)
                  .apply(lambda v: targets_output(spec, manifest, *v)))
    pulumi.export("ssh_private_key", pulumi.Output.secret(key.private_openssh))
