"""Where hostbench keeps its inputs, artifacts, per-stack state and results (derived here only)."""

from __future__ import annotations

import os
import re
from pathlib import Path

from hostbench.errors import HostbenchError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
IMAGE_RECIPE_DIR = PROJECT_ROOT / "image"
STACKS_DIR = PROJECT_ROOT / "stacks"
WORKLOADS_DIR = PROJECT_ROOT / "workloads"
STRESSORS_DIR = PROJECT_ROOT / "stressors"
SCHEMAS_DIR = PROJECT_ROOT / "schemas"
REFERENCES_DIR = PROJECT_ROOT / "references"
STACK_NAME = r"^[A-Za-z0-9][A-Za-z0-9-]*$"
"""What a stack name may be before it becomes part of a path: letters, digits and dashes."""


def stacks_dir() -> Path:
    """The stack configs `fab up`, `fab down` and `fab lifecycle` read; override with
    HOSTBENCH_STACKS_DIR."""
    return Path(os.environ.get("HOSTBENCH_STACKS_DIR", STACKS_DIR))


def build_dir() -> Path:
    """Image artifacts (rootfs trees, disks, kernels); override with HOSTBENCH_BUILD_DIR."""
    return Path(os.environ.get("HOSTBENCH_BUILD_DIR", PROJECT_ROOT / "build"))


def state_dir() -> Path:
    """Per-stack state (SSH keys, targets, scratch); override with HOSTBENCH_STATE_DIR."""
    return Path(os.environ.get("HOSTBENCH_STATE_DIR", PROJECT_ROOT / ".hostbench"))


def checked_stack_name(stack: str, source: str) -> str:
    """``stack`` if it is a plain name; ``source`` says where it came from in the error."""
    if not re.fullmatch(STACK_NAME, stack):
        raise HostbenchError(f"{source}: stack name {stack!r} must be letters, digits and "
                             "dashes, starting with a letter or digit")
    return stack


def stack_state_dir(stack: str) -> Path:
    """One stack's state: its SSH key, the targets `fab up` saved, container scratch dirs."""
    return state_dir() / "stacks" / checked_stack_name(stack, "stack state directory")


def private_stack_dir(stack: str) -> Path:
    """The stack's state directory, made if missing and 0700 however it was made: it holds the
    stack's private key and targets."""
    path = stack_state_dir(stack)
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o700)
    return path


def libvirt_pool_dir(name: str) -> Path:
    """A stack's libvirt storage pool: under libvirt's own images directory, which the QEMU
    user can read (override the parent with HOSTBENCH_POOL_ROOT)."""
    return Path(os.environ.get("HOSTBENCH_POOL_ROOT", "/var/lib/libvirt/images")) / name


def results_dir() -> Path:
    """The results database and every run's files; override with HOSTBENCH_RESULTS_DIR."""
    return Path(os.environ.get("HOSTBENCH_RESULTS_DIR", PROJECT_ROOT / "results"))


def run_dir(run_id: str) -> Path:
    """A run's report, exports and raw outputs; a run id is one plain name, so that no id
    reaches outside the runs directory."""
    if run_id in ("", ".", "..") or "/" in run_id or "\\" in run_id:
        raise HostbenchError(f"{run_id!r} is not a run id (e.g. 20261126-150102-3f2a)")
    return results_dir() / "runs" / run_id
