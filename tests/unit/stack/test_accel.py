from pathlib import Path

from hostbench.provision.plan import libvirt_domain_type
from hostbench.stack.accel import kvm_usable, resolve_accel


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


def test_resolution_and_domain_type():
    assert resolve_accel("auto", True) == "kvm" and resolve_accel("auto", False) == "tcg"
    assert resolve_accel("tcg", True) == "tcg"
    assert libvirt_domain_type("kvm") == "kvm" and libvirt_domain_type("tcg") == "qemu"
