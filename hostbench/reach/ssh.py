"""SSH to a target with the stack's key (Fabric Connections), and waiting for sshd to answer.

Paramiko and Fabric are loaded by the functions that connect, not with this module, which much
of hostbench imports for its names and errors alone."""

from __future__ import annotations

import functools
import io
import logging
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from hostbench.errors import HostbenchError
from hostbench.polling import wait_until
from hostbench.stack.host import Host, HostKeyChanged, LocalHost

if TYPE_CHECKING:
    import paramiko
    from fabric import Connection

# While a target boots, paramiko's transport thread logs every refused handshake with a
# traceback; the reason is reported by wait_for_ssh instead.
logging.getLogger("paramiko.transport").setLevel(logging.CRITICAL)


SSH_WAIT_S = 15.0
"""The longest wait for an environment's sshd to connect, authenticate or open a session."""


class TargetUnreachable(HostbenchError):
    pass


@dataclass(frozen=True)
class StackAccess:
    """How hostbench reaches a stack's environments: its key, the host keys pinned when each
    environment was first reached (by `fab up`, or the first run of a Pulumi stack), and the
    host they run on (a remote one is the jump host to them)."""

    private_key: str
    known_hosts: Path
    host: Host = field(default_factory=LocalHost)


def private_key(openssh_text: str) -> paramiko.PKey:
    import paramiko

    return paramiko.Ed25519Key.from_private_key(io.StringIO(openssh_text))


Jump = tuple[str, int]
"""The sshd (address, port) a container inside a VM is reached through: the guest's."""


def connection(host: str, port: int, user: str, access: StackAccess,
               timeout: float = SSH_WAIT_S, via: Jump | None = None) -> Connection:
    """A Fabric Connection that authenticates with the stack key only (no agent, no passwords),
    ignores the user's ~/.ssh/config (no ProxyCommand, no agent forwarding into an environment)
    and accepts only the host key pinned for the address, pinning it on first contact; every
    step (connecting, authenticating, opening a session) waits at most ``timeout``. With
    ``via``, ``host:port`` is an address as that sshd sees it, reached through it."""
    import paramiko
    from fabric import Config

    gateway = (connection(*via, user, access, timeout) if via is not None
               else access.host.proxy_command(host, port))
    conn = _no_delay_connection()(host=host, port=port, user=user, connect_timeout=timeout,
                      config=Config(ssh_config=paramiko.SSHConfig()), forward_agent=False,
                      gateway=gateway,
                      connect_kwargs={"pkey": private_key(access.private_key),
                                      "allow_agent": False, "look_for_keys": False,
                                      "banner_timeout": timeout, "auth_timeout": timeout,
                                      "channel_timeout": timeout})
    access.known_hosts.parent.mkdir(parents=True, exist_ok=True)
    access.known_hosts.touch(mode=0o600, exist_ok=True)
    # Known keys are checked (a mismatch raises BadHostKeyException); an address seen for the
    # first time is added to the file (Fabric's AutoAddPolicy saves to the file loaded here).
    conn.client.load_host_keys(str(access.known_hosts))
    return conn


@functools.cache
def _no_delay_connection() -> type[Connection]:
    """Fabric's Connection whose TCP socket, once open, sends each SSH packet at once.

    Paramiko sets no socket options: with Nagle's algorithm on, a channel's open or exec request
    that follows another small packet waits for its ACK, which the other side delays by up to
    40 ms (a `true` into a container took 54 ms, 10 ms without). Through a jump host or a
    ProxyCommand there is no TCP socket here to set; the jump's own connection is one of these.
    """
    from fabric import Connection

    class NoDelayConnection(Connection):
        def open(self) -> object:
            was_open = self.is_connected
            opened = super().open()
            sock = None if was_open or self.transport is None else self.transport.sock
            if isinstance(sock, socket.socket):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return opened

    return NoDelayConnection


def close(conn: Connection) -> None:
    """Close the connection, and its transport even when opening it failed half-way (Fabric
    only closes what it finished opening, and the transport's thread would linger); a jump it
    went through too."""
    conn.close()
    conn.client.close()
    if not isinstance(conn.gateway, str | None):
        close(conn.gateway)


def host_key_changed(what: str, host: str, port: int, access: StackAccess,
                     exc: paramiko.BadHostKeyException) -> HostKeyChanged:
    return HostKeyChanged(
        f"{what} ({host}:{port}) answered with host key {exc.key.get_fingerprint().hex()}, not "
        f"the one pinned in {access.known_hosts} when it was first reached: something else may "
        "answer at that address. If the stack was re-created outside `fab up` (e.g. `pulumi "
        "destroy` and `pulumi up`), delete that file and run again")


def wait_for_ssh(host: str, port: int, user: str, access: StackAccess, timeout: float,
                 what: str, on_wait: Callable[[str], None] | None = None,
                 still_alive: Callable[[], bool] | None = None, via: Jump | None = None
                 ) -> None:
    """Poll until `user@host:port` (through ``via``) accepts the key and runs a command, or
    raise after `timeout`."""
    import paramiko
    from invoke.exceptions import CommandTimedOut

    last = "no answer yet"

    def answers() -> bool:
        nonlocal last
        if still_alive is not None and not still_alive():
            raise TargetUnreachable(f"{what} stopped while waiting for SSH on {host}:{port}")
        try:
            if not access.host.remote and via is None:  # a refused port fails fast
                with socket.create_connection((host, port), timeout=5):
                    pass
            conn = connection(host, port, user, access, timeout=10, via=via)
            try:
                conn.run("true", hide=True, in_stream=False, timeout=10)
            finally:
                close(conn)
            return True
        except paramiko.BadHostKeyException as exc:
            raise host_key_changed(what, host, port, access, exc) from None
        except (OSError, paramiko.SSHException, EOFError, CommandTimedOut) as exc:
            last = f"{type(exc).__name__}: {exc}"
        if on_wait:
            on_wait(last)
        return False

    if wait_until(answers, timeout, 2):
        return
    through = f" (through {via[0]}:{via[1]})" if via else ""
    raise TargetUnreachable(f"{what}: SSH on {host}:{port}{through} not ready after "
                            f"{timeout:.0f}s (last error: {last})")
