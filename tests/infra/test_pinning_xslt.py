"""The pinning XSLT, applied by xsltproc, yields a domain libvirt's schema accepts, pinned."""

from __future__ import annotations

import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from hostbench.infra.pinning import pinning_xslt
from hostbench.provision.domain_xml import apply_xslt, domain_xml
from hostbench.spec import spec_from_mapping

pytestmark = pytest.mark.skipif(not shutil.which("virt-xml-validate"),
                                reason="virt-xml-validate (libvirt-clients) not installed")


def _spec(cores: list[int], accel: str = "tcg"):
    return spec_from_mapping("t", {"cores": cores, "memory_mib": 1024, "accel": accel}, "test",
                             host_cpus={0, 1, 2, 3}, kvm_ok=True)


def _validate(xml: str, tmp_path: Path) -> subprocess.CompletedProcess:
    path = tmp_path / "domain.xml"
    path.write_text(xml)
    return subprocess.run(["virt-xml-validate", str(path), "domain"], capture_output=True,
                          text=True)


@pytest.mark.parametrize(("cores", "accel"), [([1], "tcg"), ([0, 2, 3], "kvm")])
def test_pinned_domain_is_valid_and_carries_the_pinning(cores, accel, tmp_path):
    spec = _spec(cores, accel)
    base = domain_xml(spec, kernel="/p/vmlinuz", initrd="/p/initrd.img",
                      cmdline="root=/dev/vda rw", root_disk="/p/root.qcow2", seed_iso="/p/seed.iso")
    pinned = apply_xslt(base, pinning_xslt(spec.cores))
    result = _validate(pinned, tmp_path)
    assert result.returncode == 0, result.stderr
    root = ET.fromstring(pinned)
    assert root.get("type") == ("kvm" if accel == "kvm" else "qemu")
    assert root.find("vcpu").text == str(len(cores))
    assert root.find("vcpu").get("cpuset") == ",".join(map(str, cores))
    pins = {int(p.get("vcpu")): p.get("cpuset") for p in root.findall("cputune/vcpupin")}
    assert pins == {i: str(c) for i, c in enumerate(cores)}
    assert root.find("cputune/emulatorpin").get("cpuset") == ",".join(map(str, cores))


def test_a_cputune_already_present_is_replaced_not_duplicated(tmp_path):
    spec = _spec([1])
    base = domain_xml(spec, kernel="/k", initrd="/i", cmdline="", root_disk="/r", seed_iso="/s")
    base = base.replace("<vcpu>", "<cputune><vcpupin vcpu='0' cpuset='0'/></cputune><vcpu>")
    pinned = apply_xslt(base, pinning_xslt(spec.cores))
    assert _validate(pinned, tmp_path).returncode == 0
    root = ET.fromstring(pinned)
    assert [p.get("cpuset") for p in root.iter("vcpupin")] == ["1"]


def test_the_validator_can_fail(tmp_path):
    assert _validate("<domain type='qemu'><vcpu>x</vcpu></domain>", tmp_path).returncode != 0
