"""Services inside an environment, here the host itself through the bare-metal executor (chroot
into /): ready when they accept connections, stopped with their whole process group, however the
trial ends; a service that cannot start fails with its own words and leaves nothing behind."""

from __future__ import annotations

import os
import shlex
import shutil
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from hostbench.reach import executors
from hostbench.reach.executors import ChrootExecutor, ExecResult, StopRequest
from hostbench.run.firewall import remove_tagged_rules, rule_tag
from hostbench.run.services import ServiceError, ServiceInEnvironment, accepts, accepts_on
from hostbench.stack.host import LocalHost, RemoteHost
from tests.unit.run.test_firewall import connects_from

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the bare-metal executor needs root")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _processes_with(marker: str) -> list[int]:
    """Pids whose command line contains ``marker``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker in (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


class _Counting(ChrootExecutor):
    calls = 0

    def run(self, argv: list[str], timeout: float, stop: StopRequest | None = None
            ) -> ExecResult:
        self.calls += 1
        return super().run(argv, timeout, stop)


def _service(tmp_path: Path, argv: list[str], port: int, ready_s: float = 10,
             client: str | None = None, tag: str = "hostbench") -> ServiceInEnvironment:
    executor = _Counting("bare", "/", str(min(os.sched_getaffinity(0))))
    return ServiceInEnvironment(executor, argv, "127.0.0.1", port, timeout_s=120,
                                ready_timeout_s=ready_s, log=tmp_path / "log", client=client,
                                tag=tag)


def _server(port: int, marker: str) -> list[str]:
    """A TCP server that also starts a child of its own (as nginx starts workers)."""
    return ["sh", "-c", f"sleep 300 & exec {_listen(port)} {marker}"]


def test_a_service_is_ready_when_it_accepts_and_its_whole_group_goes_when_it_stops(tmp_path):
    port, marker = _free_port(), f"svc-{uuid.uuid4().hex}"
    with _service(tmp_path, _server(port, marker), port) as service:
        assert accepts("127.0.0.1", port) and service.exited_early() is None
        group = _group_of(marker)
        members = _group(group)
        assert len(members) == 3  # timeout, the server, its child
        assert set(_processes_with(marker)) & set(members)
    assert not accepts("127.0.0.1", port) and not _processes_with(marker)
    assert not _group(group)


def _group_of(marker: str) -> int:
    """The process group that coreutils timeout made for the service whose command line holds
    ``marker`` (the wrappers that started it stay in this process's group)."""
    [group] = {os.getpgid(pid) for pid in _processes_with(marker)} - {os.getpgrp()}
    return group


def test_a_stopped_service_ends_as_it_would_be_asked_to_and_is_killed_only_past_its_grace(
        tmp_path, monkeypatch):
    """TERM first, so that a database shuts down cleanly; a service that ignores it is KILLed
    when the grace is over (here 0.2 s, 30 s in a run)."""
    port, marker = _free_port(), f"svc-{uuid.uuid4().hex}"
    said = tmp_path / "said"
    polite = ["sh", "-c", f"trap 'echo TERM > {shlex.quote(str(said))}; exit 0' TERM; "
                          f"{_listen(port)} & wait", marker]
    with _service(tmp_path, polite, port) as service:
        pass
    assert said.read_text() == "TERM\n" and not _processes_with(marker)
    assert service.executor.calls == 1  # stopped by the end of its input, not by a command
    monkeypatch.setattr(executors, "STOP_GRACE_S", 0.2)
    deaf = ["sh", "-c", f"trap '' TERM; {_listen(port)} & wait", marker]
    start = time.monotonic()
    with _service(tmp_path, deaf, port):
        pass
    assert not _processes_with(marker) and time.monotonic() - start >= 0.2


def _listen(port: int) -> str:
    return (f"{shlex.quote(sys.executable)} -c 'import socket, time; "
            f"s = socket.create_server((\"127.0.0.1\", {port})); time.sleep(300)'")


def _group(group: int) -> list[int]:
    """The live members of process group ``group`` (zombies wait for init, and run nothing)."""
    members = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == group and fields[0] != "Z":
                members.append(int(entry))
    return members


@pytest.mark.skipif(shutil.which("iptables") is None, reason="the firewall needs iptables")
def test_only_the_load_generators_address_reaches_a_service_while_it_runs(tmp_path):
    """The rule host-side servers get: here the load generator connects from 127.0.0.1, and
    anything else (127.0.0.2) is refused until the service stops."""
    port, marker = _free_port(), f"svc-{uuid.uuid4().hex}"
    tag = rule_tag("unit-svc")
    try:
        with _service(tmp_path, _server(port, marker), port, client="127.0.0.1", tag=tag):
            assert connects_from("127.0.0.1", port)
            assert not connects_from("127.0.0.2", port)
        rules = subprocess.run(["iptables", "-w", "-S"], capture_output=True, text=True,
                               check=True).stdout
        assert tag not in rules  # gone with the service
    finally:
        remove_tagged_rules(tag)


def test_an_interrupt_inside_the_trial_still_stops_the_service(tmp_path):
    port, marker = _free_port(), f"svc-{uuid.uuid4().hex}"
    with pytest.raises(KeyboardInterrupt), _service(tmp_path, _server(port, marker), port):
        raise KeyboardInterrupt
    assert not _processes_with(marker) and not accepts("127.0.0.1", port)


def test_a_service_that_cannot_start_fails_with_its_own_message(tmp_path):
    port = _free_port()
    failing = ["sh", "-c", "echo '*** FATAL CONFIG FILE ERROR (Redis 7.0.15) ***' >&2; exit 1"]
    with pytest.raises(ServiceError) as info, _service(tmp_path, failing, port):
        pass
    assert str(info.value) == ("service sh exited before it accepted connections: exit code 1: "
                               "*** FATAL CONFIG FILE ERROR (Redis 7.0.15) ***")


def test_a_service_that_never_listens_is_stopped_when_its_time_is_up(tmp_path):
    port, marker = _free_port(), f"svc-{uuid.uuid4().hex}"
    with pytest.raises(ServiceError, match=r"did not accept connections on 127\.0\.0\.1:\d+ "
                                           r"within 0.1 s"), \
            _service(tmp_path, ["sh", "-c", "sleep 300", marker], port, ready_s=0.1):
        pass
    assert not _processes_with(marker)


def test_a_service_that_dies_during_the_trial_says_so(tmp_path):
    port, marker = _free_port(), f"svc-{uuid.uuid4().hex}"
    with _service(tmp_path, _server(port, marker), port) as service:
        os.killpg(_group_of(marker), 9)
        service._thread.join(10)
        assert service.exited_early() == (
            "service sh exited during the trial: exit code 137: Killed")


def test_something_already_listening_is_not_taken_for_the_service(tmp_path):
    with socket.create_server(("127.0.0.1", 0)) as other:
        port = other.getsockname()[1]
        with pytest.raises(ServiceError, match="already accepts connections before sleep"), \
                _service(tmp_path, ["sleep", "1"], port):
            pass


def test_readiness_is_asked_on_the_host_where_the_clients_run(sshd, isolated_state):
    """On a remote host the environment's address may be reachable from the host only: the
    probe runs there (here the host is this machine behind a second sshd)."""
    host = RemoteHost("lab", sshd.destination, sshd.port, str(sshd.client_key))
    probe = accepts_on(host)
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        assert probe("127.0.0.1", port)
    assert not probe("127.0.0.1", port)
    assert accepts_on(LocalHost()) is accepts
