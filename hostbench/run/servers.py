"""Servers on the host side of network workloads (iperf3, sockperf), one per environment's
host-facing address, run from the image's own tree and kept off the measured cores."""

from __future__ import annotations

import ipaddress
import subprocess
from collections.abc import Iterable
from contextlib import ExitStack
from pathlib import Path
from types import TracebackType

from hostbench.errors import HostbenchError
from hostbench.polling import wait_until
from hostbench.reach.executors import chroot_argv, guarded_argv, guarded_popen
from hostbench.run.firewall import IpProtocol, only_from
from hostbench.stack.host import Host, LocalHost
from hostbench.stack.spec import cpuset

READY_TIMEOUT_S = 15.0


class ServerError(HostbenchError):
    pass


def _hex_address(address: str, port: int) -> str:
    """The local_address column of /proc/net/tcp for an IPv4 address and port."""
    packed = ipaddress.IPv4Address(address).packed[::-1]
    return f"{packed.hex().upper()}:{port:04X}"


_WAITING = {"tcp": "0A", "udp": "07"}  # LISTEN; an unconnected (bound) UDP socket


def is_listening(address: str, port: int, protocol: IpProtocol = "tcp",
                 proc_net: Path = Path("/proc/net"), host: Host | None = None) -> bool:
    """Whether a socket waits for clients on address:port, without connecting to it (a probe
    connection would count as a client for servers like `iperf3 -1`)."""
    wanted = {_hex_address(address, port), _hex_address("0.0.0.0", port)}
    table = (host or LocalHost()).read_text(str(proc_net / protocol))
    for line in table.splitlines()[1:]:
        fields = line.split()
        if len(fields) > 3 and fields[1] in wanted and fields[3] == _WAITING[protocol]:
            return True
    return False


def free_cores(measured: Iterable[int], host: Host | None = None) -> list[int]:
    """The host's usable cores that no environment uses."""
    return sorted((host or LocalHost()).usable_cpus() - set(measured))


def server_cores(measured: tuple[int, ...], host: Host | None = None) -> str:
    """Host cores not used by the environments; all of them when none is left."""
    return cpuset(free_cores(measured, host) or sorted((host or LocalHost()).usable_cpus()))


class HostServerProcess:
    """Context manager: start `argv` in the image tree on the host, wait until it listens.
    Given a ``client`` address, the server answers only that client while it runs (a firewall
    rule tagged ``tag``, removed when the server stops)."""

    def __init__(self, argv: list[str], address: str, port: int, rootfs: str, cpuset: str,
                 log: Path, protocol: IpProtocol = "tcp", client: str | None = None,
                 tag: str = "hostbench", host: Host | None = None) -> None:
        self.argv, self.address, self.port, self.protocol = argv, address, port, protocol
        self.rootfs, self.cpuset, self.log = rootfs, cpuset, log
        self.client, self.tag, self.host = client, tag, host or LocalHost()
        self._running = ExitStack()

    def __enter__(self) -> HostServerProcess:
        if is_listening(self.address, self.port, self.protocol, host=self.host):
            raise ServerError(f"{self.protocol} port {self.address}:{self.port} is already in use "
                              "on the host; stop whatever listens there")
        self.log.parent.mkdir(parents=True, exist_ok=True)
        try:
            if self.client is not None:
                self._running.enter_context(only_from(self.client, self.address, self.port,
                                                      self.tag, self.protocol, self.host))
            with self.log.open("ab") as out:
                # its own session: Ctrl-C reaches hostbench, which stops the server in order
                proc = self._running.enter_context(guarded_popen(
                    self.host.argv(chroot_argv(self.rootfs, self.cpuset,
                                               guarded_argv(self.argv))),
                    stdout=out, stderr=subprocess.STDOUT, start_new_session=True))
            self._wait_until_listening(proc)
        except BaseException:  # an interrupt while starting, too: nothing is left running
            self.stop()
            raise
        return self

    def _wait_until_listening(self, proc: subprocess.Popen[bytes]) -> None:
        def listening() -> bool:
            if is_listening(self.address, self.port, self.protocol, host=self.host):
                return True
            if proc.poll() is not None:
                raise self._not_listening()
            return False

        if not wait_until(listening, READY_TIMEOUT_S, 0.05):
            raise self._not_listening()

    def _not_listening(self) -> ServerError:
        return ServerError(f"host server {' '.join(self.argv)} did not listen on "
                           f"{self.protocol} {self.address}:{self.port}; see {self.log}")

    def stop(self) -> None:
        """Close the server's guard: it is killed and reaped, then its firewall rule goes
        (idempotent)."""
        self._running.close()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
