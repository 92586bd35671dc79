"""The XSLT applied to a VM's domain (the libvirt provider's `xml.xslt`, and `fab up` alike): it
pins the vCPUs and emulator threads to the stack's host cores, and sets the root disk's cache and
I/O modes and the size of TCG's translation cache, for which the provider has no input."""

from __future__ import annotations

from xml.sax.saxutils import quoteattr

from hostbench.stack.spec import cpuset as cpuset_text

XSLT_TEMPLATE = """<?xml version="1.0"?>
<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">
  <xsl:output method="xml" indent="yes"/>
  <xsl:template match="@*|node()">
    <xsl:copy><xsl:apply-templates select="@*|node()"/></xsl:copy>
  </xsl:template>
  <!-- replace any cputune the generator wrote; ours follows the vcpu element -->
  <xsl:template match="/domain/cputune"/>
  <xsl:template match="/domain/vcpu">
    <vcpu placement="static" cpuset={cpuset}><xsl:value-of select="."/></vcpu>
    <cputune>
{vcpupins}
      <emulatorpin cpuset={cpuset}/>
    </cputune>
  </xsl:template>{disk_driver}{tcg}
</xsl:stylesheet>
"""
DISK_DRIVER_TEMPLATE = """
  <!-- the root disk's QEMU cache and I/O modes -->
  <xsl:template match="/domain/devices/disk[@device='disk']/driver">
    <driver>
      <xsl:apply-templates select="@*"/>{attributes}
    </driver>
  </xsl:template>"""

TCG_TEMPLATE = """
  <!-- the size of the TCG translation cache (QEMU's tb-size) -->
  <xsl:template match="/domain/features">
    <features>
      <xsl:apply-templates select="@*|node()[not(self::tcg)]"/>
      <tcg><tb-cache unit="MiB">{mib}</tb-cache></tcg>
    </features>
  </xsl:template>"""


def domain_xslt(cores: tuple[int, ...], cache: str = "default", io: str = "default",
                tcg_cache_mib: int | None = None) -> str:
    """vCPU i runs on host core cores[i]; the emulator threads share those cores; ``cache``
    and ``io`` other than "default" go on the root disk's driver; ``tcg_cache_mib`` sets the
    TCG translation cache (QEMU's own default otherwise)."""
    cpuset = quoteattr(cpuset_text(tuple(dict.fromkeys(cores))))
    pins = "\n".join(f'      <vcpupin vcpu="{i}" cpuset="{core}"/>' for i, core in enumerate(cores))
    modes = {name: value for name, value in (("cache", cache), ("io", io)) if value != "default"}
    driver = DISK_DRIVER_TEMPLATE.format(attributes="".join(
        f'\n      <xsl:attribute name="{name}">{value}</xsl:attribute>'
        for name, value in modes.items())) if modes else ""
    tcg = TCG_TEMPLATE.format(mib=int(tcg_cache_mib)) if tcg_cache_mib else ""
    return XSLT_TEMPLATE.format(cpuset=cpuset, vcpupins=pins, disk_driver=driver, tcg=tcg)
