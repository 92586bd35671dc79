"""SSH to a target with the stack's key (Fabric Connections), and waiting for sshd to answer."""

from __future__ import annotations

import io
import logging
import socket
import time
from collections.abc import Callable

import paramiko
from fabric import Connection

from hostbench.errors import HostbenchError

# While a target boots, paramiko's transport thread logs every refused handshake with a
# traceback; the reason is reported by wait_for_ssh instead.
logging.getLogger("paramiko.transport").setLevel(logging.CRITICAL)


class TargetUnreachable(HostbenchError):
    pass


def private_key(openssh_text: str) -> paramiko.PKey:
    return paramiko.Ed25519Key.from_private_key(io.StringIO(openssh_text))


def connection(host: str, port: int, user: str, key_text: str, timeout: float = 15.0
               ) -> Connection:
    """A Fabric Connection that authenticates with the stack key only (no agent, no passwords)."""
    return Connection(host=host, port=port, user=user, connect_timeout=timeout,
                      connect_kwargs={"pkey": private_key(key_text), "allow_agent": False,
                                      "look_for_keys": False, "banner_timeout": timeout,
                                      "auth_timeout": timeout})


def wait_for_ssh(host: str, port: int, user: str, key_text: str, timeout: float,
                 what: str, on_wait: Callable[[str], None] | None = None,
                 still_alive: Callable[[], bool] | None = None) -> None:
    """Poll until `user@host:port` accepts the key and runs a command, or raise after `timeout`."""
    deadline = time.monotonic() + timeout
    last = "no answer yet"
    while time.monotonic() < deadline:
        if still_alive is not None and not still_alive():
            raise TargetUnreachable(f"{what} stopped while waiting for SSH on {host}:{port}")
        try:
            with socket.create_connection((host, port), timeout=5):
                pass
            with connection(host, port, user, key_text, timeout=10) as conn:
                conn.run("true", hide=True, in_stream=False)
            return
        except (OSError, paramiko.SSHException, EOFError) as exc:
            last = f"{type(exc).__name__}: {exc}"
        if on_wait:
            on_wait(last)
        time.sleep(2)
    raise TargetUnreachable(f"{what}: SSH on {host}:{port} not ready after {timeout:.0f}s "
                            f"(last error: {last})")
