"""NoCloud seed contents that put the stack's public key into the VM, and declare the container
its workloads run in, if any (both read by image/overlay's hostbench-seed, as data)."""

from __future__ import annotations

import json


def user_data(public_key: str, nested_container: str | None = None) -> str:
    """``nested_container``: a NestedPlan's declaration."""
    data = "#cloud-config\nssh_authorized_keys:\n  - " + json.dumps(public_key.strip()) + "\n"
    if nested_container is not None:
        data += f"hostbench_container: {json.dumps(nested_container)}\n"
    return data


def meta_data(instance: str) -> str:
    return f"instance-id: {instance}\nlocal-hostname: {instance}\n"
