"""The targets document: what `pulumi up` / `fab up` produce and `fab benchmark` consumes.

Same shape as `pulumi stack output --json --show-secrets`: top-level keys `stack`, `spec`,
`image`, `targets` and the secret `ssh_private_key`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hostbench.image.manifest import ImageManifest
from hostbench.paths import state_dir
from hostbench.spec import StackSpec

SSH_USER = "root"
# Where workloads put scratch files inside every environment: the VM's own disk, a host
# directory bind-mounted into the container, and a directory of the chroot tree for bare metal.
SCRATCH_DIR = "/scratch"


def spec_output(spec: StackSpec) -> dict[str, Any]:
    return {"cores": list(spec.cores), "memory_mib": spec.memory_mib, "disk_gib": spec.disk_gib,
            "accel": spec.accel, "source": spec.source}


def image_output(manifest: ImageManifest, manifest_path: str) -> dict[str, Any]:
    return {"hash": manifest.hash, "docker_tag": manifest.docker_tag, "manifest": manifest_path}


def targets_output(spec: StackSpec, manifest: ImageManifest, vm_address: str, domain_name: str,
                   container_name: str, container_gateway: str) -> dict[str, Any]:
    """Per environment: how to reach it, and `host_address`, the host as seen from inside it
    (where host-side servers such as iperf3 listen for that environment)."""
    common = {"cores": list(spec.cores), "memory_mib": spec.memory_mib}
    return {
        "bare": {"kind": "bare", "rootfs": manifest.rootfs, "host_address": "127.0.0.1",
                 **common},
        "vm": {"kind": "vm", "host": vm_address, "port": 22, "user": SSH_USER,
               "domain": domain_name, "accel": spec.accel,
               "host_address": spec.network_addresses()[0], **common},
        "container": {"kind": "container", "host": "127.0.0.1", "port": spec.ssh_port,
                      "user": SSH_USER, "container": container_name,
                      "host_address": container_gateway, **common},
    }


def container_scratch_dir(stack: str) -> Path:
    """Host directory bind-mounted at SCRATCH_DIR in the container (same host filesystem)."""
    return state_dir() / "stacks" / stack / "scratch"
