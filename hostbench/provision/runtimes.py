"""Container runtimes the Docker engine needs besides runc: gVisor's runsc, registered in
/etc/docker/daemon.json (merged with what is there) and picked up with a reload (SIGHUP), which
keeps running containers."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

from hostbench.errors import HostbenchError
from hostbench.polling import wait_until

DOCKER_CONFIG = Path("/etc/docker/daemon.json")
RUNSC_ARGS = ("--platform=ptrace", "--network=host")
"""What gVisor needs here: its systrap platform is not in Debian 12's build, KVM is unusable, so
ptrace; and its own network stack fails in the root network namespace, so the container's
namespace is passed through (the container keeps its bridge address)."""


def with_runsc(config: dict[str, Any], runsc: str) -> dict[str, Any]:
    """``config`` with the runsc runtime registered; every other setting kept as it is."""
    runtimes = dict(config.get("runtimes") or {})
    runtimes["runsc"] = {"path": runsc, "runtimeArgs": list(RUNSC_ARGS)}
    return {**config, "runtimes": runtimes}


def read_config(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        config = json.loads(path.read_text() or "{}")
    except json.JSONDecodeError as exc:
        raise HostbenchError(f"{path} is not valid JSON ({exc}); fix it or move it aside"
                             ) from None
    if not isinstance(config, dict):
        raise HostbenchError(f"{path} must hold a JSON object")
    return config


def _reload_docker(under_systemd: bool) -> None:
    command = (["systemctl", "reload", "docker"] if under_systemd
               else ["pkill", "-HUP", "-x", "dockerd"])
    subprocess.run(command, check=True, capture_output=True)


def docker_runtimes() -> dict[str, Any]:
    """The runtimes the running engine knows, with their arguments."""
    proc = subprocess.run(["docker", "info", "--format", "{{json .Runtimes}}"],
                          capture_output=True, text=True)
    return json.loads(proc.stdout) if proc.returncode == 0 and proc.stdout.strip() else {}


def register_runsc(under_systemd: bool, path: Path = DOCKER_CONFIG, timeout: float = 30.0
                   ) -> str:
    """Register gVisor with the Docker engine when runsc is installed; returns what was done."""
    runsc = shutil.which("runsc")
    if runsc is None:
        return "runsc not installed: the gvisor environments cannot run"
    current = read_config(path)
    wanted = with_runsc(current, runsc)
    if wanted == current and "runsc" in docker_runtimes():
        return "runsc already registered"
    if wanted != current:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(wanted, indent=2) + "\n")
    _reload_docker(under_systemd)
    if not wait_until(lambda: "runsc" in docker_runtimes(), timeout, 0.5):
        raise HostbenchError(f"dockerd did not pick up the runsc runtime from {path}")
    return f"runsc registered in {path} ({' '.join(RUNSC_ARGS)})"
