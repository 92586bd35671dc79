"""libvirt XML for the stack's network, pool, volumes and domains, as terraform-provider-libvirt
(which pulumi-libvirt 0.5.4 bridges, v0.8.1) generates them for the same inputs.

The provider starts every domain from ``newDomainDef`` (libvirt/domain_def.go): the features
PAE, ACPI and APIC, a virtio RNG backed by /dev/urandom and a guest agent channel. ACPI matters
for measuring: without it the guest has no HPET or ACPI PM timer, marks its TSC unstable and
keeps time with jiffies. The pinning comes on top through the same XSLT the provider applies.
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

from hostbench.errors import HostbenchError
from hostbench.provision.cmdline import provider_cmdline
from hostbench.provision.plan import NetworkPlan, VmPlan

GUEST_AGENT_CHANNEL = "org.qemu.guest_agent.0"


def network_xml(net: NetworkPlan) -> str:
    """The NAT network as the provider writes it (libvirt/network.go)."""
    return f"""<network>
  <name>{escape(net.name)}</name>
  <forward mode='nat'/>
  <bridge name={quoteattr(net.bridge)} stp='on'/>
  <ip address={quoteattr(net.gateway)} family='ipv4' prefix='{net.prefix}'>
    <dhcp><range start={quoteattr(net.dhcp_first)} end={quoteattr(net.dhcp_last)}/></dhcp>
  </ip>
</network>"""


def pool_xml(name: str, path: Path) -> str:
    return (f"<pool type='dir'><name>{escape(name)}</name>"
            f"<target><path>{escape(str(path))}</path></target></pool>")


def volume_xml(name: str, capacity: int, fmt: str, backing: str | None = None) -> str:
    backing_xml = (f"<backingStore><path>{escape(backing)}</path><format type='qcow2'/>"
                   "</backingStore>") if backing else ""
    return (f"<volume><name>{escape(name)}</name><capacity unit='bytes'>{capacity}</capacity>"
            f"<target><format type={quoteattr(fmt)}/></target>{backing_xml}</volume>")


def domain_xml(vm: VmPlan, pool: str, network: str, kernel: str, initrd: str,
               seed_iso: str) -> str:
    """The domain as the provider would send it to libvirt, before the pinning XSLT."""
    cpu = f"<cpu mode={quoteattr(vm.cpu_mode)}/>" if vm.cpu_mode else "<cpu/>"
    return f"""<domain type={quoteattr(vm.domain_type)}>
  <name>{escape(vm.domain)}</name>
  <description>{escape(vm.description)}</description>
  <memory unit='MiB'>{vm.memory_mib}</memory>
  <vcpu placement='static'>{vm.vcpus}</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>{escape(kernel)}</kernel>
    <initrd>{escape(initrd)}</initrd>
    <cmdline>{escape(provider_cmdline(vm.kernel_cmdline))}</cmdline>
  </os>
  <features><pae/><acpi/><apic/></features>
  {cpu}
  <devices>
    <disk type='volume' device='disk'>
      <driver name='qemu' type={quoteattr(vm.root.format)}/>
      <source pool={quoteattr(pool)} volume={quoteattr(vm.root.name)}/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <disk type='file' device='cdrom'>
      <driver name='qemu' type='raw'/>
      <source file={quoteattr(seed_iso)}/>
      <target dev='hdd' bus='ide'/>
      <serial>cloudinit</serial>
    </disk>
    <interface type='network'>
      <source network={quoteattr(network)}/>
      <model type='virtio'/>
    </interface>
    <console type='pty'>
      <target type='serial' port='0'/>
    </console>
    <channel type='unix'>
      <target type='virtio' name='{GUEST_AGENT_CHANNEL}'/>
    </channel>
    <rng model='virtio'>
      <backend model='random'>/dev/urandom</backend>
    </rng>
  </devices>
</domain>"""


def apply_xslt(xml: str, xslt: str) -> str:
    """Apply `xslt` to `xml` with xsltproc, as the libvirt provider does with `xml.xslt`."""
    with tempfile.TemporaryDirectory() as tmp:
        xml_path, xslt_path = Path(tmp, "domain.xml"), Path(tmp, "pin.xslt")
        xml_path.write_text(xml)
        xslt_path.write_text(xslt)
        proc = subprocess.run(["xsltproc", str(xslt_path), str(xml_path)], capture_output=True,
                              text=True)
    if proc.returncode != 0:
        raise HostbenchError(f"xsltproc failed on the domain stylesheet: {proc.stderr.strip()}")
    return proc.stdout
