"""The machine a stack's environments run on: this one, or a remote host reached over SSH.

A remote host is reached with the system's OpenSSH client and a config file of the stack's own,
which includes the user's ~/.ssh/config (aliases, ports, identity files are honoured). The host's
key is pinned in the stack's state on first contact, or taken from the user's known_hosts; a
changed key stops every connection. No agent or X11 forwarding; one multiplexed connection of
the stack's own carries its commands. libvirt is reached at qemu+ssh:// through the same client,
Docker through its socket forwarded by it.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import os
import shlex
import subprocess
import tempfile
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import docker

from hostbench.errors import HostbenchError
from hostbench.paths import stack_state_dir
from hostbench.stack.accel import KVM_SHELL_LINE, kvm_usable

LOCAL_LIBVIRT_URI = "qemu:///system"
DOCKER_SOCKET = "/var/run/docker.sock"
SSH_TIMEOUT_S = 15
USER_SSH_CONFIG = "~/.ssh/config"
"""Included after the stack's own settings: the user's aliases, ports and identity files."""
_KEY_CHANGED = ("REMOTE HOST IDENTIFICATION HAS CHANGED", "Host key verification failed")


class HostUnreachable(HostbenchError):
    pass


class HostKeyChanged(HostbenchError):
    """A host (the stack's, or an environment) answered with a key other than the pinned one."""


class HostCommandError(HostbenchError):
    pass


class Host(Protocol):
    """Where the stack's daemons, bare metal and host-side servers are."""

    remote: bool

    @property
    def label(self) -> str:
        """`this machine`, or the SSH destination."""
        ...

    @property
    def libvirt_uri(self) -> str: ...

    def argv(self, argv: list[str]) -> list[str]:
        """``argv`` as a command line of this machine that runs it on the host."""
        ...

    def output(self, argv: list[str], timeout: float = 120, stdin: bytes | None = None) -> str:
        ...

    def read_text(self, path: str) -> str:
        """A file of the host; OSError when it cannot be read."""
        ...

    def usable_cpus(self) -> set[int]:
        """The host's CPUs a process may run on."""
        ...

    def docker(self) -> docker.DockerClient: ...

    def proxy_command(self, address: str, port: int) -> str | None:
        """How to reach ``address:port`` as the host sees it (None: directly)."""
        ...

    def close(self) -> None: ...


def _checked(argv: list[str], proc: subprocess.CompletedProcess[bytes], what: str) -> str:
    if proc.returncode != 0:
        raise HostCommandError(f"{what}: {shlex.join(argv)[:200]} failed ({proc.returncode}): "
                               f"{proc.stderr.decode(errors='replace').strip()[:500]}")
    return proc.stdout.decode(errors="replace")


class LocalHost:
    """This machine: commands run as they are, the daemons on their local sockets."""

    remote = False
    label = "this machine"
    libvirt_uri = LOCAL_LIBVIRT_URI

    def argv(self, argv: list[str]) -> list[str]:
        return list(argv)

    def output(self, argv: list[str], timeout: float = 120, stdin: bytes | None = None) -> str:
        try:
            proc = subprocess.run(argv, input=stdin, capture_output=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise HostCommandError(f"{self.label}: {shlex.join(argv)[:120]} did not finish in "
                                   f"{timeout:g} s") from None
        return _checked(argv, proc, self.label)

    def read_text(self, path: str) -> str:
        return Path(path).read_text()

    def usable_cpus(self) -> set[int]:
        return set(os.sched_getaffinity(0))

    def docker(self) -> docker.DockerClient:
        import docker  # the SDK only where an engine is used

        return docker.from_env()

    def proxy_command(self, address: str, port: int) -> str | None:
        return None

    def close(self) -> None:
        pass


def control_dir() -> Path:
    """Short, private paths for OpenSSH's control and forwarded sockets (a socket's path may
    not exceed about 100 characters, which a stack's state directory can)."""
    path = Path(tempfile.gettempdir()) / f"hostbench-ssh-{os.getuid()}"
    path.mkdir(mode=0o700, exist_ok=True)
    if path.stat().st_uid != os.getuid() or path.stat().st_mode & 0o077:
        raise HostbenchError(f"{path} must be a directory of this user's, mode 0700")
    return path


def ssh_config_path(path: Path, key: str) -> str:
    """``path`` as one argument of an OpenSSH config line: quoted when it has spaces, refused
    (naming ``key``, where it came from) when it holds a control character or a quote."""
    text = str(path)
    if any(ord(c) < 0x20 or c in '\x7f"' for c in text):
        raise HostbenchError(f"{key}: {text!r} cannot be written to an OpenSSH config (it holds "
                             "a control character or a double quote)")
    return f'"{text}"' if " " in text else text


def host_state_dir(stack: str) -> Path:
    """The stack's OpenSSH config, pinned host keys and ssh command."""
    return stack_state_dir(stack) / "host"


def ssh_command(stack: str) -> Path:
    """OpenSSH with the stack's config, as one command (libvirt's command= takes no options)."""
    return host_state_dir(stack) / "ssh"


def _qemu_ssh_uri(destination: str, port: int | None, **params: str | None) -> str:
    user, _, name = destination.rpartition("@")
    netloc = (f"{user}@" if user else "") + name + (f":{port}" if port else "")
    query = urllib.parse.urlencode({k: v for k, v in params.items() if v is not None})
    return f"qemu+ssh://{netloc}/system?{query}"


def libvirt_uri_for(stack: str, destination: str | None, port: int | None = None) -> str:
    """libvirtd of the stack's host, written without opening it: this machine's, or qemu+ssh://
    with the stack's OpenSSH config (libvirt runs it as its ssh command)."""
    if destination is None:
        return LOCAL_LIBVIRT_URI
    return _qemu_ssh_uri(destination, port, command=str(ssh_command(stack)), no_tty="1")


class RemoteHost:
    """A host reached over SSH as ``destination`` ([user@]name), from the stack ``stack``."""

    remote = True

    def __init__(self, stack: str, destination: str, port: int | None = None,
                 identity_file: str | None = None) -> None:
        if destination.startswith("-"):
            raise HostbenchError(f"{destination!r} is not an SSH destination")
        self.stack, self.destination, self.port = stack, destination, port
        self.identity_file = identity_file
        self.dir = host_state_dir(stack)
        self.config_file = self.dir / "ssh_config"
        self.known_hosts = self.dir / "known_hosts"
        self.ssh_command = ssh_command(stack)
        self.key = hashlib.sha256(f"{stack}\0{destination}\0{port}".encode()).hexdigest()[:16]
        self.docker_socket = control_dir() / f"docker-{self.key}.sock"
        self._docker_forwarded = False
        self._cpus: set[int] | None = None
        self._write_config()

    @property
    def label(self) -> str:
        return self.destination + (f":{self.port}" if self.port else "")

    def _config_lines(self) -> list[str]:
        """The paths of the stack's OpenSSH config, each checked (and quoted) for it."""
        state = "the state directory (HOSTBENCH_STATE_DIR)"
        lines = [f"UserKnownHostsFile {ssh_config_path(self.known_hosts, state)} "
                 "~/.ssh/known_hosts",
                 # a control socket of the stack's own: another stack's exit never closes it
                 "ControlPath " + ssh_config_path(control_dir() / f"{self.key}-%C",
                                                  "the temporary directory")]
        if self.identity_file:
            lines.append("IdentityFile " + ssh_config_path(
                Path(self.identity_file).expanduser(), "hostbench:host_identity_file"))
        return lines

    def _write_config(self) -> None:
        """The stack's OpenSSH config (first value wins, so these come before the user's)."""
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.known_hosts.touch(mode=0o600, exist_ok=True)
        lines = [
            f"# how stack {self.stack} reaches its host; written by hostbench",
            *self._config_lines(),
            "StrictHostKeyChecking accept-new",
            "ForwardAgent no", "ForwardX11 no", "ClearAllForwardings no", "BatchMode yes",
            f"ConnectTimeout {SSH_TIMEOUT_S}", "ServerAliveInterval 15", "ServerAliveCountMax 4",
            "ControlMaster auto", "ControlPersist 60",
            "StreamLocalBindUnlink yes", "ExitOnForwardFailure yes",
        ]
        if self.port:
            lines.append(f"Port {self.port}")
        lines.append(f"Include {USER_SSH_CONFIG}")
        self.config_file.write_text("\n".join(lines) + "\n")
        self.ssh_command.write_text("#!/bin/sh\n# OpenSSH with the stack's config (libvirt's "
                                    f"command=)\nexec ssh -F {shlex.quote(str(self.config_file))}"
                                    ' "$@"\n')
        self.ssh_command.chmod(0o700)

    def ssh_argv(self, *options: str) -> list[str]:
        return ["ssh", "-F", str(self.config_file), *options]

    def argv(self, argv: list[str]) -> list[str]:
        return [*self.ssh_argv("-T"), "--", self.destination, shlex.join(argv)]

    def output(self, argv: list[str], timeout: float = 120, stdin: bytes | None = None) -> str:
        full = self.argv(argv)
        try:
            proc = subprocess.run(full, input=stdin, capture_output=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise HostUnreachable(f"host {self.label}: {shlex.join(argv)[:120]} did not finish "
                                  f"in {timeout:.0f} s") from None
        self.check_ssh(proc.returncode, proc.stderr.decode(errors="replace"))
        return _checked(argv, proc, f"host {self.label}")

    def check_ssh(self, code: int, stderr: str) -> None:
        """Raise if ssh itself failed (exit 255): a changed host key, or no connection."""
        if code != 255:
            return
        if any(marker in stderr for marker in _KEY_CHANGED):
            raise HostKeyChanged(
                f"host {self.label} answered with a host key other than the one pinned in "
                f"{self.known_hosts} (or in ~/.ssh/known_hosts) when it was first reached: "
                "something else may answer at that address. If the host was reinstalled, "
                f"remove its line (ssh-keygen -f {self.known_hosts} -R HOST) and run again")
        raise HostUnreachable(f"cannot reach host {self.label} over SSH: "
                              f"{stderr.strip()[-500:] or 'ssh failed'}")

    def read_text(self, path: str) -> str:
        try:
            return self.output(["cat", "--", path], timeout=SSH_TIMEOUT_S * 2)
        except HostCommandError as exc:
            raise OSError(str(exc)) from None

    def usable_cpus(self) -> set[int]:
        if self._cpus is None:
            self._cpus = cpu_list(self.output(["sh", "-c", "taskset -cp $$ | sed 's/.*: //'"]))
        return self._cpus

    @property
    def libvirt_uri(self) -> str:
        return libvirt_uri_for(self.stack, self.destination, self.port)

    def libvirt_uri_with(self, **params: str | None) -> str:
        """qemu+ssh://[user@]name[:port]/system with the given URI parameters."""
        return _qemu_ssh_uri(self.destination, self.port, **params)

    def docker(self) -> docker.DockerClient:
        """The host's Docker engine, its socket forwarded over the SSH connection."""
        if not self._docker_forwarded:
            self.output(["true"])  # the connection (its master) is up, the key checked
            forward = self.ssh_argv("-O", "forward", "-L",
                                    f"{self.docker_socket}:{DOCKER_SOCKET}", self.destination)
            proc = subprocess.run(forward, capture_output=True, text=True,
                                  timeout=SSH_TIMEOUT_S)
            if proc.returncode != 0:
                raise HostUnreachable(f"cannot forward the Docker socket of host {self.label}: "
                                      f"{proc.stderr.strip()}")
            self._docker_forwarded = True
        import docker

        return docker.DockerClient(base_url=f"unix://{self.docker_socket}")

    @property
    def docker_host(self) -> str:
        """The Docker engine as Docker's own ssh:// URL names it (the Pulumi provider's host)."""
        return f"ssh://{self.destination}" + (f":{self.port}" if self.port else "")

    def proxy_command(self, address: str, port: int) -> str:
        """ssh -W through the host: an environment's NAT or loopback address from here."""
        return shlex.join(self.ssh_argv("-W", f"{address}:{port}", self.destination))

    def close(self) -> None:
        """End the multiplexed connection and its forwards."""
        with contextlib.suppress(OSError, subprocess.TimeoutExpired):
            subprocess.run(self.ssh_argv("-O", "exit", self.destination), capture_output=True,
                           timeout=SSH_TIMEOUT_S)
        self._docker_forwarded = False
        self.docker_socket.unlink(missing_ok=True)


@dataclass(frozen=True)
class HostLimits:
    """What a stack must fit on its host: usable CPUs, memory, the pools' disk, KVM."""

    cpus: set[int]
    memory_mib: int
    disk_gib: int
    kvm_ok: bool


def cpu_list(text: str) -> set[int]:
    """A Linux CPU list ("0-3,6"; empty: none) as numbers."""
    cpus: set[int] = set()
    for part in filter(None, text.strip().split(",")):
        first, _, last = part.partition("-")
        cpus.update(range(int(first), int(last or first) + 1))
    return cpus


def local_limits(pool_root: Path) -> HostLimits:
    meminfo = Path("/proc/meminfo").read_text()
    memory_kib = next(int(line.split()[1]) for line in meminfo.splitlines()
                      if line.startswith("MemTotal:"))
    place = pool_root
    while not place.exists():
        place = place.parent
    stat = os.statvfs(place)
    return HostLimits(set(os.sched_getaffinity(0)), memory_kib // 1024,
                      stat.f_blocks * stat.f_frsize // 2**30, kvm_usable())


_LIMITS = KVM_SHELL_LINE + r"""p=$1; while [ ! -e "$p" ]; do p=$(dirname "$p"); done
printf 'cpus=%s\n' "$(taskset -cp $$ | sed 's/.*: //')"
printf 'memory_kib=%s\n' "$(sed -n 's/^MemTotal: *\([0-9]*\).*/\1/p' /proc/meminfo)"
printf 'disk_kib=%s\n' "$(df -Pk "$p" | awk 'NR==2 {print $2}')"
"""


def remote_limits(host: Host, pool_root: Path) -> HostLimits:
    """The same, read on a remote host with one command."""
    text = host.output(["sh", "-c", _LIMITS, "sh", str(pool_root)])
    values = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
    try:
        return HostLimits(cpu_list(values["cpus"]), int(values["memory_kib"]) // 1024,
                          int(values["disk_kib"]) // 2**20, values["kvm"] == "1")
    except (KeyError, ValueError) as exc:
        raise HostCommandError(f"host {host.label}: cannot read its CPUs, memory and disk "
                               f"({type(exc).__name__}: {exc}; it said {text.strip()[:200]!r})"
                               ) from None


_OPEN: dict[str, RemoteHost] = {}


def host_for(stack: str, destination: str | None, port: int | None = None,
             identity_file: str | None = None) -> Host:
    """This machine when no destination is named; else the stack's remote host (one per stack
    and process, so that its connection is shared)."""
    if destination is None:
        return LocalHost()
    key = f"{stack}\0{destination}\0{port}\0{identity_file}"
    if key not in _OPEN:
        if not _OPEN:
            atexit.register(close_remote_hosts)
        _OPEN[key] = RemoteHost(stack, destination, port, identity_file)
    return _OPEN[key]


def close_remote_hosts() -> None:
    """Every remote host this process opened (at exit)."""
    for host in _OPEN.values():
        host.close()
    _OPEN.clear()
