"""libvirt XML for the stack's network, pool, volumes and domain (pinning added by the XSLT)."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

from hostbench.accel import libvirt_domain_type
from hostbench.errors import HostbenchError
from hostbench.infra.pinning import pinning_xslt
from hostbench.spec import StackSpec


def network_xml(spec: StackSpec) -> str:
    gateway, netmask, first, last = spec.network_addresses()
    return f"""<network>
  <name>{escape(spec.resource_prefix)}</name>
  <forward mode='nat'/>
  <bridge name={quoteattr(spec.bridge_name)} stp='on' delay='0'/>
  <ip address={quoteattr(gateway)} netmask={quoteattr(netmask)}>
    <dhcp><range start={quoteattr(first)} end={quoteattr(last)}/></dhcp>
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


def domain_xml(spec: StackSpec, kernel: str, initrd: str, cmdline: str, root_disk: str,
               seed_iso: str) -> str:
    """The domain as the provider would generate it, before the pinning XSLT."""
    return f"""<domain type={quoteattr(libvirt_domain_type(spec.accel))}>
  <name>{escape(spec.resource_prefix)}</name>
  <memory unit='MiB'>{spec.memory_mib}</memory>
  <currentMemory unit='MiB'>{spec.memory_mib}</currentMemory>
  <vcpu>{spec.vcpus}</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>{escape(kernel)}</kernel>
    <initrd>{escape(initrd)}</initrd>
    <cmdline>{escape(cmdline)}</cmdline>
  </os>
  {"<cpu mode='host-passthrough'/>" if spec.accel == "kvm" else ""}
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file={quoteattr(root_disk)}/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <disk type='file' device='cdrom'>
      <driver name='qemu' type='raw'/>
      <source file={quoteattr(seed_iso)}/>
      <target dev='hdd' bus='ide'/>
      <readonly/>
    </disk>
    <interface type='network'>
      <source network={quoteattr(spec.resource_prefix)}/>
      <model type='virtio'/>
    </interface>
    <serial type='pty'><target port='0'/></serial>
    <console type='pty'><target type='serial' port='0'/></console>
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
        raise HostbenchError(f"xsltproc failed on the pinning stylesheet: {proc.stderr.strip()}")
    return proc.stdout


def pinned_domain_xml(spec: StackSpec, **devices: str) -> str:
    return apply_xslt(domain_xml(spec, **devices), pinning_xslt(spec.cores))
