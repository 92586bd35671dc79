"""The direct backend's domain and network are the ones the libvirt provider would generate for
the same inputs (fixtures read from the provider's source), and the pinning XSLT is checked
against the provider's domain, applied by xsltproc and validated by virt-xml-validate."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from hostbench.image.manifest import ImageManifest
from hostbench.provision.domain_xml import apply_xslt, domain_xml, network_xml
from hostbench.provision.domain_xslt import domain_xslt
from hostbench.provision.plan import NO_IMAGE, resource_plan
from hostbench.stack.spec import spec_from_mapping

pytestmark = pytest.mark.skipif(not shutil.which("virt-xml-validate"),
                                reason="virt-xml-validate (libvirt-clients) not installed")

PROVIDER = Path(__file__).resolve().parents[1] / "data" / "provider"
PROVIDER_DOMAIN = PROVIDER / "domain-local-stack.xml"
PROVIDER_NETWORK = PROVIDER / "network-local-stack.xml"
POOL = "/var/lib/libvirt/images/hostbench-local"
IMAGE = NO_IMAGE.model_copy(update={"kernel_cmdline": "root=/dev/vda rw console=ttyS0,115200 "
                                                      "net.ifnames=1"})


def _plan(cores: list[int], accel: str = "tcg", image: ImageManifest = IMAGE):
    spec = spec_from_mapping("local", {"cores": cores, "memory_mib": 1024, "accel": accel},
                             "test", host_cpus={0, 1, 2, 3}, kvm_ok=True)
    return resource_plan(spec, image)


def _direct_domain(cores: list[int], accel: str = "tcg") -> str:
    plan = _plan(cores, accel)
    return domain_xml(plan.vms[0], pool=plan.pool, network=plan.network.name,
                      kernel=f"{POOL}/{plan.kernel.name}", initrd=f"{POOL}/{plan.initrd.name}",
                      seed_iso=f"{POOL}/{plan.vms[0].seed}")


def _provider_domain() -> str:
    return PROVIDER_DOMAIN.read_text().replace("POOL", POOL)


def _canonical(xml: str) -> list[tuple[str, tuple, str]]:
    """Every element as (path, sorted attributes, text), in document order."""
    out = []

    def walk(node: ET.Element, path: str) -> None:
        here = f"{path}/{node.tag}"
        out.append((here, tuple(sorted(node.attrib.items())), (node.text or "").strip()))
        for child in node:
            walk(child, here)

    walk(ET.fromstring(xml), "")
    return out


def _validate(xml: str, tmp_path: Path, schema: str = "domain") -> subprocess.CompletedProcess:
    path = tmp_path / f"{schema}.xml"
    path.write_text(xml)
    return subprocess.run(["virt-xml-validate", str(path), schema], capture_output=True,
                          text=True)


def test_the_direct_backend_writes_the_providers_domain():
    assert _canonical(_direct_domain([1])) == _canonical(_provider_domain())


def test_the_direct_backend_writes_the_providers_network():
    assert _canonical(network_xml(_plan([1]).network)) == _canonical(
        PROVIDER_NETWORK.read_text())


def test_the_direct_backends_network_is_valid_and_nat_with_dhcp_beside_the_gateway(tmp_path):
    xml = network_xml(_plan([1]).network)
    result = _validate(xml, tmp_path, "network")
    assert result.returncode == 0, result.stderr
    root = ET.fromstring(xml)
    assert root.find("forward").get("mode") == "nat"
    assert root.find("ip/dhcp/range").attrib == {"start": "192.168.150.2",
                                                 "end": "192.168.150.254"}


def test_the_network_comparison_can_fail():
    planned = _plan([1]).network
    moved = network_xml(dataclasses.replace(planned, dhcp_first="192.168.150.100"))
    assert _canonical(moved) != _canonical(PROVIDER_NETWORK.read_text())


def test_the_providers_defaults_that_keep_a_guest_clock_are_there():
    root = ET.fromstring(_direct_domain([1]))
    assert [f.tag for f in root.find("features")] == ["pae", "acpi", "apic"]  # HPET, ACPI PM
    assert root.find("devices/rng/backend").text == "/dev/urandom"
    assert root.find("devices/channel/target").get("name") == "org.qemu.guest_agent.0"


@pytest.mark.parametrize(("cores", "accel"), [([1], "tcg"), ([0, 2, 3], "kvm")])
def test_the_pinning_xslt_on_the_providers_domain_is_valid_and_pinned(cores, accel, tmp_path):
    plan = _plan(cores, accel)
    provider = _provider_domain().replace('<domain type="qemu">',
                                          f'<domain type="{plan.vms[0].domain_type}">')
    pinned = apply_xslt(provider, plan.vms[0].xslt)
    result = _validate(pinned, tmp_path)
    assert result.returncode == 0, result.stderr
    root = ET.fromstring(pinned)
    assert root.find("vcpu").get("cpuset") == ",".join(map(str, cores))
    pins = {int(p.get("vcpu")): p.get("cpuset") for p in root.findall("cputune/vcpupin")}
    assert pins == {i: str(c) for i, c in enumerate(cores)}
    assert root.find("cputune/emulatorpin").get("cpuset") == ",".join(map(str, cores))
    assert root.find("features/acpi") is not None  # the stylesheet keeps the rest


@pytest.mark.parametrize(("cores", "accel"), [([1], "tcg"), ([0, 2, 3], "kvm")])
def test_the_direct_backends_pinned_domain_is_valid(cores, accel, tmp_path):
    plan = _plan(cores, accel)
    pinned = apply_xslt(_direct_domain(cores, accel), plan.vms[0].xslt)
    result = _validate(pinned, tmp_path)
    assert result.returncode == 0, result.stderr
    root = ET.fromstring(pinned)
    assert root.get("type") == ("kvm" if accel == "kvm" else "qemu")
    assert root.find("vcpu").text == str(len(cores))
    assert (root.find("cpu").get("mode") == "host-passthrough") == (accel == "kvm")


def test_a_cputune_already_present_is_replaced_not_duplicated(tmp_path):
    plan = _plan([1])
    base = _provider_domain().replace('<vcpu placement="static">',
                                      "<cputune><vcpupin vcpu='0' cpuset='0'/></cputune>"
                                      '<vcpu placement="static">')
    pinned = apply_xslt(base, plan.vms[0].xslt)
    assert _validate(pinned, tmp_path).returncode == 0
    assert [p.get("cpuset") for p in ET.fromstring(pinned).iter("vcpupin")] == ["1"]


def test_the_validator_can_fail(tmp_path):
    assert _validate("<domain type='qemu'><vcpu>x</vcpu></domain>", tmp_path).returncode != 0


def test_the_root_disks_cache_and_io_modes_come_through_the_stylesheet(tmp_path):
    pinned = apply_xslt(_provider_domain(), domain_xslt((1,), cache="none", io="native"))
    assert _validate(pinned, tmp_path).returncode == 0
    root = ET.fromstring(pinned)
    disk, cdrom = root.findall("devices/disk")
    assert disk.find("driver").attrib == {"name": "qemu", "type": "qcow2", "cache": "none",
                                          "io": "native"}
    assert "cache" not in cdrom.find("driver").attrib  # only the root disk
    plain = ET.fromstring(apply_xslt(_provider_domain(), domain_xslt((1,))))
    assert plain.find("devices/disk/driver").attrib == {"name": "qemu", "type": "qcow2"}


def test_the_tcg_translation_cache_comes_through_the_stylesheet(tmp_path):
    sized = apply_xslt(_provider_domain(), domain_xslt((1,), tcg_cache_mib=64))
    assert _validate(sized, tmp_path).returncode == 0
    features = ET.fromstring(sized).find("features")
    assert features.find("tcg/tb-cache").text == "64"
    assert features.find("tcg/tb-cache").get("unit") == "MiB"
    assert features.find("acpi") is not None  # the provider's features stay
    assert ET.fromstring(apply_xslt(_provider_domain(), domain_xslt((1,)))).find(
        "features/tcg") is None
