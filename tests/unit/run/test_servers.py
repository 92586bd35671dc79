"""Listening detection reads /proc/net/tcp without connecting (a probe would use up iperf3 -1)."""

from __future__ import annotations

import socket

from hostbench.run.servers import is_listening


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
