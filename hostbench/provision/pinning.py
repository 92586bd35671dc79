"""XSLT that pins a libvirt domain's vCPUs and emulator threads to the stack's host cores."""

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
  </xsl:template>
</xsl:stylesheet>
"""


def pinning_xslt(cores: tuple[int, ...]) -> str:
    """vCPU i runs on host core cores[i]; the emulator threads share the same cores."""
    cpuset = quoteattr(cpuset_text(cores))
    pins = "\n".join(f'      <vcpupin vcpu="{i}" cpuset="{core}"/>' for i, core in enumerate(cores))
    return XSLT_TEMPLATE.format(cpuset=cpuset, vcpupins=pins)
