"""The kernel command line as the libvirt provider takes it (`cmdlines`, a list of maps) and
as it hands it to libvirt (its arguments sorted)."""

from __future__ import annotations


def cmdline_maps(cmdline: str) -> list[dict[str, str]]:
    """One single-entry map per argument (key "_" for a bare word such as ``rw``)."""
    maps = []
    for arg in cmdline.split():
        key, sep, value = arg.partition("=")
        maps.append({key: value} if sep else {"_": arg})
    return maps


def provider_cmdline(cmdline: str) -> str:
    """What terraform-provider-libvirt writes into <cmdline>: the arguments, sorted
    (``setCmdlineArgs`` in its libvirt/domain.go)."""
    return " ".join(sorted(cmdline.split()))
