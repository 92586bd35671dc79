"""Where `fab benchmark` gets its targets: a targets file, `fab up`'s saved file, or
`pulumi stack output --json --show-secrets`; validated with errors naming the source and field."""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hostbench.datafiles import load_json_object
from hostbench.errors import ConfigError, HostbenchError
from hostbench.executors import ChrootExecutor, Executor, SSHExecutor
from hostbench.fields import FieldReader
from hostbench.paths import state_dir
from hostbench.schedule import ENVIRONMENTS


@dataclass(frozen=True)
class Target:
    env: str
    cores: tuple[int, ...]
    memory_mib: int
    host_address: str
    host: str = ""
    port: int = 0
    user: str = ""
    rootfs: str = ""
    accel: str = ""

    @property
    def cpuset(self) -> str:
        return ",".join(str(c) for c in self.cores)


@dataclass(frozen=True)
class Targets:
    stack: str
    source: str
    targets: dict[str, Target]
    private_key: str
    spec: dict[str, Any]
    image: dict[str, Any]

    @property
    def vm_accel(self) -> str:
        vm = self.targets.get("vm")
        return vm.accel if vm else ""

    def executor(self, env: str) -> Executor:
        t = self.targets[env]
        if env == "bare":
            return ChrootExecutor(env, t.rootfs, t.cpuset)
        return SSHExecutor(env, t.host, t.port, t.user, self.private_key)


def saved_targets_file(stack: str) -> Path:
    """Where `fab up` saves its targets (kept in step with hostbench.provision.direct)."""
    return state_dir() / "stacks" / stack / "targets.json"


def _target(r: FieldReader, env: str) -> Target:
    t = r.mapping(env)
    kind = t.choice("kind", (env,))
    cores = t.raw("cores")
    if not isinstance(cores, list) or not cores or not all(isinstance(c, int) for c in cores):
        raise t.fail("cores", f"must be a non-empty list of core numbers, got {cores!r}")
    fields: dict[str, Any] = {"env": kind, "cores": tuple(cores),
                              "memory_mib": t.integer("memory_mib", minimum=1),
                              "host_address": t.string("host_address")}
    if env == "bare":
        fields["rootfs"] = t.string("rootfs")
    else:
        fields.update(host=t.string("host"), port=t.integer("port", minimum=1, maximum=65535),
                      user=t.string("user"))
        t.raw("domain" if env == "vm" else "container", None)
    if env == "vm":
        fields["accel"] = t.choice("accel", ("kvm", "tcg"))
    t.done()
    return Target(**fields)


def parse_targets(data: Any, source: str) -> Targets:
    if not isinstance(data, dict):
        raise ConfigError(source, "(top level)", "must be a JSON object (pulumi stack output)")
    r = FieldReader(source, data)
    tr = r.mapping("targets")
    targets = {env: _target(tr, env) for env in ENVIRONMENTS if env in tr.data}
    tr.done()
    if not targets:
        raise tr.fail("targets", f"names none of {', '.join(ENVIRONMENTS)}")
    key = r.string("ssh_private_key")
    if "PRIVATE KEY" not in key:
        raise r.fail("ssh_private_key", "is not an OpenSSH private key (was it masked? use "
                                        "--show-secrets)")
    document = Targets(stack=r.string("stack"), source=source, targets=targets, private_key=key,
                       spec=dict(r.raw("spec", {})), image=dict(r.raw("image", {})))
    r.done()
    return document


def load_targets_file(path: Path) -> Targets:
    return parse_targets(load_json_object(path), str(path))


def from_pulumi(stack: str) -> Targets:
    pulumi = shutil.which("pulumi") or shutil.which(str(Path.home() / ".pulumi/bin/pulumi"))
    if pulumi is None:
        raise HostbenchError(
            f"no targets for stack {stack!r}: no --targets-file, no {saved_targets_file(stack)} "
            "from `fab up`, and no Pulumi CLI to ask; run `fab up` or pass --targets-file")
    proc = subprocess.run([pulumi, "stack", "output", "--json", "--show-secrets", "--stack",
                           stack], capture_output=True, text=True)
    if proc.returncode != 0:
        raise HostbenchError(f"pulumi stack output for stack {stack!r} failed: "
                             f"{proc.stderr.strip()}")
    source = f"pulumi stack output --stack {stack}"
    try:
        data = json.loads(proc.stdout)
    except json.JSONDecodeError as exc:
        raise ConfigError(source, "(output)", f"is not valid JSON: {exc}") from None
    return parse_targets(data, source)


def resolve_targets(stack: str, targets_file: str | None) -> Targets:
    """--targets-file, else `fab up`'s saved file for the stack, else the Pulumi stack outputs."""
    if targets_file:
        return load_targets_file(Path(targets_file))
    saved = saved_targets_file(stack)
    if saved.exists():
        return load_targets_file(saved)
    return from_pulumi(stack)
