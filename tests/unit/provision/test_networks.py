"""A stack's VM network against the host's routes and the other stack files."""

from __future__ import annotations

import ipaddress

import pytest

from hostbench.errors import ConfigError
from hostbench.provision.networks import check_network, host_routes, network_conflicts
from hostbench.provision.plan import NetworkPlan
from hostbench.stack.spec import declared_networks, spec_from_mapping

ROUTES = """Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0
docker0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0
hb-local\t0096A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
"""


def _network(cidr: str, bridge: str = "hb-lab") -> NetworkPlan:
    net = ipaddress.IPv4Network(cidr)
    return NetworkPlan(name="hostbench-lab", bridge=bridge, cidr=cidr,
                       gateway=str(net.network_address + 1), prefix=net.prefixlen,
                       dhcp_first=str(net.network_address + 2),
                       dhcp_last=str(net.broadcast_address - 1))


def _spec(cidr: str):
    return spec_from_mapping("lab", {"cores": [1], "memory_mib": 512, "network_cidr": cidr},
                             "stacks/Pulumi.lab.yaml", host_cpus={0, 1}, kvm_ok=False,
                             host_memory_mib=4096, host_disk_gib=100)


def test_routes_are_read_without_the_default_route():
    assert host_routes(ROUTES) == [("docker0", ipaddress.IPv4Network("172.17.0.0/16")),
                                  ("hb-local", ipaddress.IPv4Network("192.168.150.0/24"))]


@pytest.mark.parametrize(("cidr", "bridge", "others", "expected"), [
    ("192.168.170.0/24", "hb-lab", {}, []),
    ("172.17.5.0/24", "hb-lab", {}, ["the host's route to 172.17.0.0/16 on docker0"]),
    ("192.168.150.0/24", "hb-lab", {}, ["the host's route to 192.168.150.0/24 on hb-local"]),
    ("192.168.150.0/24", "hb-local", {}, []),  # the stack's own network, while it is up
    ("192.168.160.0/23", "hb-lab", {"factors": "192.168.161.0/24", "lab": "192.168.160.0/23"},
     ["stack factors's network 192.168.161.0/24"]),
])
def test_conflicts_name_each_route_and_stack_overlapped(cidr, bridge, others, expected):
    assert network_conflicts(_spec(cidr), _network(cidr, bridge), host_routes(ROUTES),
                             others) == expected


def test_the_shipped_stacks_declare_networks_of_their_own():
    networks = declared_networks()
    assert {"local", "factors"} <= set(networks)
    nets = [ipaddress.IPv4Network(c) for c in networks.values()]
    assert not any(a.overlaps(b) for i, a in enumerate(nets) for b in nets[i + 1:])


def test_an_overlapping_network_is_refused_naming_file_and_key():
    spec = _spec("192.168.150.128/25")
    with pytest.raises(ConfigError) as err:
        check_network(spec, _network("192.168.150.128/25"))
    assert err.value.source == "stacks/Pulumi.lab.yaml"
    assert err.value.field == "hostbench:network_cidr"
    assert "stack local's network 192.168.150.0/24" in err.value.problem
