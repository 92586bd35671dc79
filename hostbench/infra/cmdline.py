"""Kernel command line as the libvirt provider's `cmdlines` list of maps (key "_" = bare word)."""

from __future__ import annotations


def cmdline_maps(cmdline: str) -> list[dict[str, str]]:
    """One single-entry map per argument, so the provider keeps the order of arguments."""
    maps = []
    for arg in cmdline.split():
        key, sep, value = arg.partition("=")
        maps.append({key: value} if sep else {"_": arg})
    return maps
