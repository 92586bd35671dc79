"""NoCloud seed contents that put the stack's public key into the VM (read by hostbench-seed)."""

from __future__ import annotations

import json


def user_data(public_key: str) -> str:
    return "#cloud-config\nssh_authorized_keys:\n  - " + json.dumps(public_key.strip()) + "\n"


def meta_data(instance: str) -> str:
    return f"instance-id: {instance}\nlocal-hostname: {instance}\n"
