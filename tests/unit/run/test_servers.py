"""Listening detection reads /proc/net/tcp and udp without connecting (a probe would use up
iperf3 -1); a server given its client answers only that client."""

from __future__ import annotations

import os
import shutil
import socket
import sys

import pytest

from hostbench.run.firewall import remove_tagged_rules, rule_tag
from hostbench.run.servers import HostServerProcess, is_listening
from tests.unit.run.test_firewall import connects_from, input_rules


def test_a_real_listening_socket_is_seen_and_a_closed_one_is_not():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        assert not is_listening("127.0.0.1", port)  # bound, not listening
        sock.listen()
        assert is_listening("127.0.0.1", port)
        assert not is_listening("127.0.0.2", port)
    assert not is_listening("127.0.0.1", port)


def test_a_wildcard_listener_counts_for_any_address():
    with socket.socket() as sock:
        sock.bind(("0.0.0.0", 0))
        sock.listen()
        assert is_listening("172.17.0.1", sock.getsockname()[1])


def test_a_bound_udp_socket_is_a_waiting_udp_server_and_not_a_tcp_one():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        assert is_listening("127.0.0.1", port, "udp")
        assert not is_listening("127.0.0.1", port)  # the TCP table has no such socket
        assert not is_listening("127.0.0.2", port, "udp")
    assert not is_listening("127.0.0.1", port, "udp")


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("iptables") is None,
                    reason="host servers run in a chroot and change the firewall: root only")
def test_a_server_with_a_client_answers_only_that_client_and_takes_its_rule_along(tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    listen = (f"import socket, time; s = socket.create_server(('127.0.0.1', {port})); "
              "time.sleep(60)")
    tag = rule_tag("unit-srv")
    cpu = str(min(os.sched_getaffinity(0)))
    try:
        with HostServerProcess([sys.executable, "-c", listen], "127.0.0.1", port, "/", cpu,
                               tmp_path / "log", client="127.0.0.1", tag=tag):
            assert tag in input_rules()
            assert connects_from("127.0.0.1", port) and not connects_from("127.0.0.2", port)
        assert tag not in input_rules()
    finally:
        remove_tagged_rules(tag)

