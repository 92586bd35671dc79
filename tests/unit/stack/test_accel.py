import subprocess
from pathlib import Path

import pytest

from hostbench.paths import PROJECT_ROOT
from hostbench.provision.plan import libvirt_domain_type
from hostbench.stack.accel import KVM_SHELL_LINE, kvm_shell_test, kvm_usable, resolve_accel


def _cpuinfo(tmp_path: Path, flags: str) -> Path:
    path = tmp_path / "cpuinfo"
    path.write_text(f"processor\t: 0\nflags\t\t: fpu sse2 {flags}\n")
    return path


def test_kvm_needs_both_the_device_and_the_cpu_flags(tmp_path):
    dev = tmp_path / "kvm"
    dev.touch()
    assert kvm_usable(dev, _cpuinfo(tmp_path, "vmx"))
    assert kvm_usable(dev, _cpuinfo(tmp_path, "svm"))
    assert not kvm_usable(dev, _cpuinfo(tmp_path, "hypervisor"))  # nested guest without vmx
    assert not kvm_usable(tmp_path / "absent", _cpuinfo(tmp_path, "vmx"))


CPUINFOS = {
    "vmx among the flags": "flags\t\t: fpu vmx sse2\n",
    "svm the first flag": "flags\t\t: svm fpu\n",
    "vmx the last flag": "processor\t: 0\nflags\t\t: fpu sse2 vmx\n",
    "a nested guest": "flags\t\t: fpu sse2 hypervisor\n",
    "vmx only in another word": "flags\t\t: fpu vmx_ept svmx\n",
    "vmx only outside the flags line": "vmx flags\t: ept vpid\nflags\t\t: fpu\n",
    "no flags line": "processor\t: 0\n",
}


@pytest.mark.parametrize("device", [True, False], ids=["device", "no device"])
@pytest.mark.parametrize("cpuinfo", CPUINFOS.values(), ids=CPUINFOS.keys())
def test_the_shell_test_says_what_kvm_usable_says(tmp_path, device, cpuinfo):
    dev, info = tmp_path / "kvm", tmp_path / "cpu info"
    if device:
        dev.touch()
    info.write_text(cpuinfo)
    shell = subprocess.run(["sh", "-c", kvm_shell_test(dev, info)]).returncode == 0
    assert shell == kvm_usable(dev, info)


def test_the_hosts_scripts_line_reads_this_host_as_kvm_usable_does():
    printed = subprocess.run(["sh", "-c", KVM_SHELL_LINE], capture_output=True, text=True).stdout
    assert printed == f"kvm={int(kvm_usable())}\n"


def test_resolution_and_domain_type():
    assert resolve_accel("auto", True) == "kvm" and resolve_accel("auto", False) == "tcg"
    assert resolve_accel("tcg", True) == "tcg"
    assert libvirt_domain_type("kvm") == "kvm" and libvirt_domain_type("tcg") == "qemu"


def test_no_other_module_spells_the_kvm_check():
    sources = {p: p.read_text() for p in (PROJECT_ROOT / "hostbench").rglob("*.py")
               if p.name != "accel.py"}
    assert [p.name for p, text in sources.items()
            if "vmx|svm" in text or "/dev/kvm ]" in text] == []
