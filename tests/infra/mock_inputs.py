"""What the Pulumi program is given under mocks: an image manifest, and the address the mocked
domain reports. Pulumi-free, so that test modules import it at collection for nothing."""

from __future__ import annotations

import json
from pathlib import Path

VM_ADDRESS = "192.168.150.23"


def write_manifest(directory: Path) -> Path:
    """A manifest naming image artifacts; under mocks no file behind it is opened."""
    manifest = {
        "hash": "f" * 64, "docker_tag": "hostbench:ffffffffffffffff", "suite": "bookworm",
        "mirror": "http://mirror.invalid/debian", "built_at": "2026-01-01T00:00:00+00:00",
        "rootfs": str(directory / "rootfs"), "disk": str(directory / "disk.qcow2"),
        "raw_disk": str(directory / "disk.raw"),
        "kernel": str(directory / "vmlinuz"), "initrd": str(directory / "initrd.img"),
        "kernel_cmdline": "root=/dev/vda rw console=ttyS0,115200",
        "packages": {"sysbench": "1.0.20+ds-5"}, "binaries": {"/usr/bin/sysbench": "0" * 64},
    }
    path = directory / "manifest.json"
    path.write_text(json.dumps(manifest))
    return path
