"""The targets document: what `pulumi up` / `fab up` produce and `fab benchmark` consumes.

Same shape as `pulumi stack output --json --show-secrets`: top-level keys `stack`, `spec`,
`image`, `targets` and the secret `ssh_private_key`.
"""

from __future__ import annotations

from typing import Any

from hostbench.image.manifest import ImageManifest
from hostbench.spec import StackSpec

SSH_USER = "root"


def spec_output(spec: StackSpec) -> dict[str, Any]:
    return {"cores": list(spec.cores), "memory_mib": spec.memory_mib, "disk_gib": spec.disk_gib,
            "accel": spec.accel, "source": spec.source}


def image_output(manifest: ImageManifest, manifest_path: str) -> dict[str, Any]:
    return {"hash": manifest.hash, "docker_tag": manifest.docker_tag, "manifest": manifest_path}


def targets_output(spec: StackSpec, manifest: ImageManifest, vm_address: str, domain_name: str,
                   container_name: str) -> dict[str, Any]:
    common = {"cores": list(spec.cores), "memory_mib": spec.memory_mib}
    return {
        "bare": {"kind": "bare", "rootfs": manifest.rootfs, **common},
        "vm": {"kind": "vm", "host": vm_address, "port": 22, "user": SSH_USER,
               "domain": domain_name, "accel": spec.accel, **common},
        "container": {"kind": "container", "host": "127.0.0.1", "port": spec.ssh_port,
                      "user": SSH_USER, "container": container_name, **common},
    }
