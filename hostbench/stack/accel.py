"""Whether this host can run a VM under KVM, or only under TCG software emulation.

One rule, read here in Python and, on hosts reached over SSH, by a shell test made from the same
constants: /dev/kvm exists AND the CPU's `flags` line names vmx or svm."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

KVM_DEVICE = Path("/dev/kvm")
CPUINFO = Path("/proc/cpuinfo")
VIRT_FLAGS = "^flags[ \t]*:(.*[ \t])?(vmx|svm)([ \t]|$)"
"""A line of /proc/cpuinfo that names vmx or svm as a flag: a POSIX extended regular expression
that Python's `re` reads alike, so that `grep -E` and `kvm_usable` agree (the tabs are tab
characters: a bracket expression of grep knows no escapes)."""


def cpu_has_virt_flags(cpuinfo: str) -> bool:
    return re.search(VIRT_FLAGS, cpuinfo, re.MULTILINE) is not None


def kvm_usable(dev_kvm: Path = KVM_DEVICE, cpuinfo: Path = CPUINFO) -> bool:
    """KVM counts as usable only when /dev/kvm exists AND the CPU exposes vmx or svm.

    A nested guest may have /dev/kvm without the flags; guests then hang under KVM.
    """
    return dev_kvm.exists() and cpuinfo.is_file() and cpu_has_virt_flags(cpuinfo.read_text())


def kvm_shell_test(dev_kvm: Path = KVM_DEVICE, cpuinfo: Path = CPUINFO) -> str:
    """`kvm_usable` as a POSIX shell command, true (exit 0) when KVM is usable, for a host
    reached over SSH."""
    return (f"[ -e {shlex.quote(str(dev_kvm))} ] && "
            f"grep -qE {shlex.quote(VIRT_FLAGS)} {shlex.quote(str(cpuinfo))}")


KVM_SHELL_LINE = f"if {kvm_shell_test()}; then echo kvm=1; else echo kvm=0; fi\n"
"""Prints kvm=1 or kvm=0: the line the host's limits and facts scripts share."""


def resolve_accel(requested: str, usable: bool) -> str:
    """`auto` -> kvm when usable else tcg; `kvm` when unusable is an error for the caller."""
    if requested == "auto":
        return "kvm" if usable else "tcg"
    return requested
