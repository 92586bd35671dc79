"""The rule that keeps a host-side server to one client address, on this host's real firewall:
a server on 127.0.0.1, the allowed client connecting from 127.0.0.1, another from 127.0.0.2."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from collections.abc import Iterator

import pytest

from hostbench.run.firewall import (
    SOURCE_QUERY,
    FirewallError,
    only_from,
    remove_tagged_rules,
    rule_tag,
    source_address,
)

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or shutil.which("iptables") is None,
                                reason="changing the firewall needs root and iptables")
TAG = rule_tag("unit-fw")


@pytest.fixture
def server() -> Iterator[int]:
    with socket.create_server(("127.0.0.1", 0)) as listening:
        listening.settimeout(2)
        yield listening.getsockname()[1]
    remove_tagged_rules(TAG)


def connects_from(source: str, port: int) -> bool:
    with socket.socket() as client:
        client.settimeout(2)
        client.bind((source, 0))
        try:
            client.connect(("127.0.0.1", port))
        except ConnectionRefusedError:
            return False
        return True


def input_rules() -> str:
    return subprocess.run(["iptables", "-w", "-S", "INPUT"], capture_output=True,
                          text=True, check=True).stdout


def test_only_the_measured_environment_reaches_its_server(server):
    assert connects_from("127.0.0.2", server)  # open before
    with only_from("127.0.0.1", "127.0.0.1", server, TAG):
        assert connects_from("127.0.0.1", server)
        assert not connects_from("127.0.0.2", server)
    assert connects_from("127.0.0.2", server) and TAG not in input_rules()  # open after


def test_a_udp_server_is_kept_to_its_client_too():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as server:
        server.bind(("127.0.0.1", 0))
        server.settimeout(0.5)
        port = server.getsockname()[1]
        try:
            with only_from("127.0.0.1", "127.0.0.1", port, TAG, "udp"):
                for source in ("127.0.0.2", "127.0.0.1"):
                    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
                        client.bind((source, 0))
                        client.sendto(source.encode(), ("127.0.0.1", port))
                assert server.recvfrom(64)[0] == b"127.0.0.1"  # 127.0.0.2's datagram was refused
        finally:
            remove_tagged_rules(TAG)


def test_the_rule_goes_however_the_block_ends_and_leftovers_are_purged(server):
    with pytest.raises(KeyboardInterrupt), only_from("127.0.0.1", "127.0.0.1", server, TAG):
        raise KeyboardInterrupt
    assert TAG not in input_rules()
    killed = only_from("127.0.0.1", "127.0.0.1", server, TAG)
    killed.__enter__()  # and never left: a run killed mid-trial
    assert TAG in input_rules() and not connects_from("127.0.0.2", server)
    assert remove_tagged_rules(TAG) == 2  # its INPUT and FORWARD rules
    assert TAG not in input_rules() and connects_from("127.0.0.2", server)
    assert remove_tagged_rules(TAG) == 0


ADDRESSES = ("1: lo    inet 127.0.0.1/8 scope global dynamic \n"
             "12: eth0    inet 172.17.0.2/16 scope global dynamic \n")


@pytest.mark.parametrize(("output", "address"), [
    ("172.17.0.1 dev eth0 src 172.17.0.2 uid 0 \\    cache \n" + ADDRESSES, "172.17.0.2"),
    ("local 127.0.0.1 dev lo table local src 127.0.0.1 uid 0 \\    cache <local> \n"
     + ADDRESSES, "127.0.0.1"),
    ("172.17.0.1 dev eth0 \\    cache \n" + ADDRESSES, "172.17.0.2"),  # gVisor names no source
])
def test_the_source_address_is_read_from_the_route_or_its_device(output, address):
    assert source_address(output, "container") == address


def test_the_query_runs_here_and_names_this_hosts_loopback_source():
    found = subprocess.run(["sh", "-c", SOURCE_QUERY, "sh", "127.0.0.1"], capture_output=True,
                           text=True, check=True).stdout
    assert source_address(found, "bare") == "127.0.0.1"


def test_no_source_address_is_an_error_naming_the_environment():
    with pytest.raises(FirewallError, match=r"vm: cannot tell which address.*Network is"):
        source_address("RTNETLINK answers: Network is unreachable", "vm")


def test_a_tag_with_blanks_is_kept_whole_and_one_with_a_quote_is_refused(server):
    spaced = TAG + " two words"
    with only_from("127.0.0.1", "127.0.0.1", server, spaced):
        assert f'--comment "{spaced}"' in input_rules()
        assert not connects_from("127.0.0.2", server)
    assert spaced not in input_rules() and connects_from("127.0.0.2", server)
    with pytest.raises(FirewallError, match="cannot be passed to iptables-restore"), \
            only_from("127.0.0.1", "127.0.0.1", server, TAG + '"; -F INPUT'):
        pass
    assert connects_from("127.0.0.2", server)
