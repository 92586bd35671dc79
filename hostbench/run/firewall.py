"""Host-side servers and services answer only their one client: while one runs, a firewall rule
rejects connections to its address and port from any other source (anything else on the docker0
or libvirt bridges could otherwise connect, take iperf3's single client slot, or reach a Redis
that runs without protected mode)."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Literal

from hostbench.errors import HostbenchError
from hostbench.stack.host import Host, HostCommandError, LocalHost

if TYPE_CHECKING:
    from hostbench.reach.executors import Executor

IpProtocol = Literal["tcp", "udp"]

IPTABLES_TIMEOUT_S = 30
_SOURCE = re.compile(r"\bsrc (\d+\.\d+\.\d+\.\d+)\b")
_DEVICE = re.compile(r"\bdev (\S+)")
SOURCE_QUERY = 'ip -o route get "$1"; ip -o -4 addr show'
"""Run in the environment with the server's address as $1: the route to it, and every IPv4
address (gVisor's route answer names the device but no source address)."""


class FirewallError(HostbenchError):
    pass


def rule_tag(stack: str) -> str:
    """The comment every rule of a stack carries, so that leftovers can be found and removed."""
    return f"hostbench:{stack}"


def _installed(host: Host) -> bool:
    if not host.remote:
        return shutil.which("iptables") is not None
    try:
        host.output(["sh", "-c", "command -v iptables"])
        return True
    except HostCommandError:
        return False


def _run(host: Host, argv: list[str], stdin: str | None = None
         ) -> subprocess.CompletedProcess[str]:
    if not _installed(host):
        raise FirewallError(f"iptables is not installed on {host.label}: it keeps host-side "
                            "servers to the environment being measured (scripts/setup "
                            "installs it)")
    try:
        return subprocess.run(host.argv(argv), input=stdin, capture_output=True, text=True,
                              timeout=IPTABLES_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise FirewallError(f"{' '.join(argv)} did not finish in {IPTABLES_TIMEOUT_S} s"
                            ) from None


def _iptables(host: Host, *args: str) -> subprocess.CompletedProcess[str]:
    return _run(host, ["iptables", "-w", *args])


def _restore_word(word: str) -> str:
    """One word of an iptables-restore line, quoted where it holds a blank."""
    if any(c in word for c in '"\\\n') or not word.isprintable():
        raise FirewallError(f"{word!r} cannot be passed to iptables-restore")
    return f'"{word}"' if " " in word or "#" in word else word


def _changes(host: Host, changes: list[list[str]]) -> subprocess.CompletedProcess[str]:
    """Several rule changes to the filter table in one iptables-restore: all made, or none
    (one process where each change took its own: about 20 ms a trial with a server)."""
    lines = "".join(" ".join(_restore_word(w) for w in change) + "\n" for change in changes)
    return _run(host, ["iptables-restore", "-w", "--noflush"], f"*filter\n{lines}COMMIT\n")


_REJECT = {"tcp": ["--reject-with", "tcp-reset"], "udp": ["--reject-with", "icmp-port-unreachable"]}


CHAINS = ("INPUT", "FORWARD")
"""Packets for the host itself, and those it passes on to its VMs and containers."""


def _rule(chain: str, protocol: IpProtocol, address: str, port: int, source: str, tag: str
          ) -> list[str]:
    return [chain, "-p", protocol, "-d", address, "--dport", str(port), "!", "-s", source,
            "-m", "comment", "--comment", tag, "-j", "REJECT", *_REJECT[protocol]]


def source_address(output: str, target: str) -> str:
    """The address the environment connects from, read from the output of SOURCE_QUERY: the
    route's source, else the first IPv4 address of the route's device."""
    route = output.splitlines()[0] if output.strip() else ""
    if match := _SOURCE.search(route):
        return match.group(1)
    if device := _DEVICE.search(route):
        addresses = re.search(rf"^\d+:\s+{re.escape(device.group(1))}\s+inet "
                              r"(\d+\.\d+\.\d+\.\d+)/", output, re.M)
        if addresses:
            return addresses.group(1)
    raise FirewallError(f"{target}: cannot tell which address it connects from "
                        f"(`ip route get` said: {output.strip()[:200]!r})")


def client_source(executor: Executor, address: str) -> str:
    """The address the environment behind ``executor`` connects to ``address`` from."""
    result = executor.run(["sh", "-c", SOURCE_QUERY, "sh", address], 60)
    return source_address(result.stdout + result.stderr, executor.env)


@contextmanager
def only_from(source: str, address: str, port: int, tag: str, protocol: IpProtocol = "tcp",
              host: Host | None = None) -> Iterator[None]:
    """Packets to address:port (``protocol``) from anywhere but ``source`` are refused, whether
    for the host or passed on to an environment, until the block ends, however it ends."""
    host = host or LocalHost()
    rules = [_rule(chain, protocol, address, port, source, tag) for chain in CHAINS]
    added = _changes(host, [["-I", *rule] for rule in rules])
    if added.returncode != 0:
        raise FirewallError(f"cannot restrict {protocol} {address}:{port} to {source}: "
                            f"{added.stderr.strip()}")
    try:
        yield
    finally:
        _changes(host, [["-D", *rule] for rule in rules])


def remove_tagged_rules(tag: str, host: Host | None = None) -> int:
    """Remove every rule carrying ``tag`` (left by a run that was killed); how many there were.
    Nothing to do, and no error, where iptables is not installed."""
    host = host or LocalHost()
    if not _installed(host):
        return 0
    removed = 0
    for line in _iptables(host, "-S").stdout.splitlines():  # the filter table's every chain
        if line.startswith("-A ") and (f'--comment "{tag}"' in line
                                       or f"--comment {tag} " in line):
            parts = line.split()[1:]  # drop "-A"
            args = [part.strip('"') for part in parts]
            if _iptables(host, "-D", *args).returncode == 0:
                removed += 1
    return removed
