"""A stack's VM network checked before anything is created: it must not overlap a route of this
host (docker0, the uplink, another bridge) or the network another stack file declares."""

from __future__ import annotations

import ipaddress
import socket
import struct

from hostbench.errors import ConfigError
from hostbench.provision.plan import NetworkPlan
from hostbench.stack.spec import PREFIX, StackSpec, declared_networks

Network = ipaddress.IPv4Network


def host_routes(table: str) -> list[tuple[str, Network]]:
    """Each (interface, destination network) of the host's IPv4 routes (``table`` is its
    /proc/net/route), the default route left out."""
    routes = []
    for line in table.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 8:
            continue
        destination, mask = (socket.inet_ntoa(struct.pack("<I", int(f, 16)))
                             for f in (fields[1], fields[7]))
        if mask != "0.0.0.0":
            routes.append((fields[0], ipaddress.IPv4Network(f"{destination}/{mask}",
                                                            strict=False)))
    return routes


def network_conflicts(spec: StackSpec, network: NetworkPlan,
                      routes: list[tuple[str, Network]], others: dict[str, str]) -> list[str]:
    """Why ``network`` cannot be the stack's: the routes and other stacks' networks it
    overlaps (its own bridge's route, there while the stack is up, is no conflict)."""
    mine = ipaddress.IPv4Network(network.cidr, strict=False)
    found = [f"the host's route to {net} on {iface}" for iface, net in routes
             if iface != network.bridge and net.overlaps(mine)]
    found += [f"stack {stack}'s network {cidr}" for stack, cidr in others.items()
              if stack != spec.stack and ipaddress.ip_network(cidr, strict=False).overlaps(mine)]
    return found


def check_network(spec: StackSpec, network: NetworkPlan) -> None:
    """Refuse, naming the file and key, a VM network that would collide once created."""
    conflicts = network_conflicts(spec, network,
                                  host_routes(spec.machine.read_text("/proc/net/route")),
                                  declared_networks())
    if conflicts:
        raise ConfigError(spec.source, f"{PREFIX}network_cidr",
                          f"{network.cidr} overlaps {', '.join(conflicts)}; give the stack a "
                          "network of its own")
