"""Whether this host can run a VM under KVM, or only under TCG software emulation."""

from __future__ import annotations

from pathlib import Path


def cpu_has_virt_flags(cpuinfo: str) -> bool:
    for line in cpuinfo.splitlines():
        if line.startswith("flags"):
            flags = line.split(":", 1)[1].split()
            return "vmx" in flags or "svm" in flags
    return False


def kvm_usable(dev_kvm: Path = Path("/dev/kvm"), cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """KVM counts as usable only when /dev/kvm exists AND the CPU exposes vmx or svm.

    A nested guest may have /dev/kvm without the flags; guests then hang under KVM.
    """
    return dev_kvm.exists() and cpuinfo.is_file() and cpu_has_virt_flags(cpuinfo.read_text())


def resolve_accel(requested: str, usable: bool) -> str:
    """`auto` -> kvm when usable else tcg; `kvm` when unusable is an error for the caller."""
    if requested == "auto":
        return "kvm" if usable else "tcg"
    return requested
