"""Host-side servers answer only the environment being measured: while a server runs, a firewall
rule rejects connections to its address and port from any other source (anything else on the
docker0 or libvirt bridges could otherwise connect, and take iperf3's single client slot)."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager

from hostbench.errors import HostbenchError

IPTABLES_TIMEOUT_S = 30
_SOURCE = re.compile(r"\bsrc (\d+\.\d+\.\d+\.\d+)\b")


class FirewallError(HostbenchError):
    pass


def rule_tag(stack: str) -> str:
    """The comment every rule of a stack carries, so that leftovers can be found and removed."""
    return f"hostbench:{stack}"


def _iptables(*args: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("iptables")
    if binary is None:
        raise FirewallError("iptables is not installed: it keeps host-side servers to the "
                            "environment being measured (scripts/setup installs it)")
    try:
        return subprocess.run([binary, "-w", *args], capture_output=True, text=True,
                              timeout=IPTABLES_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise FirewallError(f"iptables {' '.join(args)} did not finish in "
                            f"{IPTABLES_TIMEOUT_S} s") from None


def _rule(address: str, port: int, source: str, tag: str) -> list[str]:
    return ["INPUT", "-p", "tcp", "-d", address, "--dport", str(port), "!", "-s", source,
            "-m", "comment", "--comment", tag, "-j", "REJECT", "--reject-with", "tcp-reset"]


def source_address(route_get_output: str, target: str) -> str:
    """The source address in `ip -o route get ADDRESS` output, as the environment connects."""
    match = _SOURCE.search(route_get_output)
    if match is None:
        raise FirewallError(f"{target}: cannot tell which address it connects from "
                            f"(`ip route get` said: {route_get_output.strip()[:200]!r})")
    return match.group(1)


@contextmanager
def only_from(source: str, address: str, port: int, tag: str) -> Iterator[None]:
    """Connections to address:port (TCP) from anywhere but ``source`` are refused, until the
    block ends, however it ends."""
    rule = _rule(address, port, source, tag)
    added = _iptables("-I", *rule)
    if added.returncode != 0:
        raise FirewallError(f"cannot restrict {address}:{port} to {source}: "
                            f"{added.stderr.strip()}")
    try:
        yield
    finally:
        _iptables("-D", *rule)


def purge(tag: str) -> int:
    """Remove every rule carrying ``tag`` (left by a run that was killed); how many there were.
    Nothing to do, and no error, where iptables is not installed."""
    if shutil.which("iptables") is None:
        return 0
    listing = _iptables("-S", "INPUT")
    removed = 0
    for line in listing.stdout.splitlines():
        if f'--comment "{tag}"' in line or f"--comment {tag} " in line:
            parts = line.split()[1:]  # drop "-A"
            args = [part.strip('"') for part in parts]
            if _iptables("-D", *args).returncode == 0:
                removed += 1
    return removed
