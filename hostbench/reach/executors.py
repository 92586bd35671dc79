"""Running one command inside an environment: bare metal (chroot, pinned), the VM or the
container (SSH). Every command is an argv list, quoted with shlex.join where a shell is involved."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol

from rich.console import Console

from hostbench.console import untrusted
from hostbench.reach.login_shell import END, LoginShell, ShellGone, definition
from hostbench.reach.rusage import FORMAT, TIME_BINARY, Rusage, split_rusage
from hostbench.reach.ssh import (
    SSH_WAIT_S,
    Jump,
    StackAccess,
    TargetUnreachable,
    close,
    connection,
    host_key_changed,
    wait_for_ssh,
)
from hostbench.stack.environments import Kind
from hostbench.stack.host import Host, LocalHost
from hostbench.stack.targets import LOOPBACK, Target

if TYPE_CHECKING:
    from fabric import Connection
    from invoke.runners import Promise

# Runs "$@" with the caller's guard as stdin, which nothing writes to: when it closes
# (hostbench ended, was interrupted or killed, the SSH channel closed, a service was stopped), a
# watcher signals the command's whole process group (coreutils timeout makes its own, out of the
# terminal's reach): KILL, or for a service TERM, which timeout passes on, KILLing after its
# grace; whatever of a stopped service's group outlives its main process is KILLed. In a shell
# kept open (``reap``), the killed watcher is waited for: it reads the shell's input, which the
# next command comes on.
def _guard(signal: str, command: str = '"$@"', reap: bool = False) -> str:
    tail = 'kill -s KILL -- -"$p" 2>/dev/null; ' if signal == "TERM" else ""
    reaped = 'wait "$w"; ' if reap else ""
    return (f'exec 3<&0 </dev/null; {command} 3<&- & p=$!; '
            f'{{ read -r _ <&3; kill -s {signal} -- -"$p" "$p"; }} 2>/dev/null & w=$!; '
            f'exec 3<&-; wait "$p"; rc=$?; kill "$w" 2>/dev/null; {reaped}{tail}')


_GUARD = _guard("KILL")
# The time now in microseconds, in $n: bash's clock needs no process (under TCG each one costs
# tens of milliseconds); other shells ask date. "1$u - 1000000" keeps leading zeros decimal.
_NOW = ('now() { t=${EPOCHREALTIME:-$(date +%s.%6N)}; u=${t#*[.,]}; '
        'n=$((${t%[.,]*} * 1000000 + 1$u - 1000000)); }; ')
# Under GNU time where the environment has it (its line on stderr: the rusage of the whole
# process tree), inside timeout's process group.
_RUSAGE = f'[ -x {TIME_BINARY} ] && set -- {TIME_BINARY} -q -f {shlex.quote(FORMAT)} "$@"; '


def _timed(signal: str, rusage: str, end: str = "exit $rc", reap: bool = False) -> str:
    """$1 the kill grace, $2 the timeout, the rest the command: run guarded, under timeout,
    and how long it ran, measured inside the environment, reported on stderr; then ``end``."""
    return ('g=$1 d=$2; shift 2; ' + rusage + _NOW + 'now; t0=$n; '
            + _guard(signal, 'timeout -k "$g" "$d" "$@"', reap) + 'now; '
            'printf "\\n__hostbench_elapsed_ns=%s\\n" "$(((n - t0) * 1000))" >&2; ' + end)


_TIMED, _TIMED_SERVICE = _timed("KILL", _RUSAGE), _timed("TERM", "")
_SHELL_FUNCTION = definition(_timed("KILL", _RUSAGE, END, reap=True))
_ELAPSED = re.compile(r"\n?__hostbench_elapsed_ns=(\d+)\n?")
# Enters the tree in a private mount namespace (its /proc, /sys, /dev mounts vanish with the
# process, nothing leaks to the host), then runs the command pinned to the stack's cores.
# A scratch directory of the host, if given, is bound at /scratch, so that what workloads write
# there (and whatever a killed one leaves) never lands in the cached image tree.
_CHROOT = ('r=$1; c=$2; s=$3; shift 3; mount -t proc proc "$r/proc" && mount --rbind /sys '
           '"$r/sys" && mount --rbind /dev "$r/dev" && { [ -z "$s" ] || { mkdir -p "$s" '
           '"$r/scratch" && mount --bind "$s" "$r/scratch"; }; } && '
           'exec chroot "$r" taskset -c "$c" "$@"')
KILL_GRACE_S = 5
STARTING_S = 300.0
"""How long a container inside a VM may take to answer SSH once its guest does, when first
reached."""
STOP_GRACE_S = 30
"""How long a stopped service may take to end after TERM before it is KILLed."""


@dataclass(frozen=True)
class ExecResult:
    stdout: str
    stderr: str
    exit_code: int
    inside_s: float | None  # how long the command ran, measured inside the environment
    wall_s: float  # measured by the orchestrator, including transport
    rusage: Rusage | None = None  # its process tree's resource use, where GNU time reported it


class TrialTimeout(Exception):
    pass


class Executor(Protocol):
    @property
    def env(self) -> str: ...

    def run(self, argv: list[str], timeout: float, stop: StopRequest | None = None
            ) -> ExecResult:
        """``argv`` inside the environment, its result when it ends; given ``stop``, a service
        that runs until the request (TERM, then KILL after STOP_GRACE_S)."""

    def close(self) -> None: ...


def _grace_s(service: bool) -> float:
    """How long after its first signal a command is KILLed: a service's shutdown, or a trial's."""
    return STOP_GRACE_S if service else KILL_GRACE_S


def _timed_parts(argv: list[str], timeout: float, service: bool) -> tuple[str, list[str]]:
    script = _TIMED_SERVICE if service else _TIMED
    return script, [f"{_grace_s(service):g}", f"{timeout:g}", *argv]


def timed_argv(argv: list[str], timeout: float, service: bool = False) -> list[str]:
    """`argv` under coreutils timeout (so nothing outlives its trial), GNU time and the timing
    wrapper. A ``service`` is TERMed when its guard closes, KILLed STOP_GRACE_S later, and runs
    without GNU time, which a TERM would end before the service (its clients' use is measured)."""
    script, args = _timed_parts(argv, timeout, service)
    return ["sh", "-c", script, "sh", *args]


def timed_command(argv: list[str], timeout: float, service: bool = False) -> str:
    """The same as one command line for an SSH session, run by the login shell itself: no
    shell started in between."""
    script, args = _timed_parts(argv, timeout, service)
    return f"set -- {shlex.join(args)}; {script}"


def guarded_argv(argv: list[str]) -> list[str]:
    """`argv` killed when its guard (stdin) closes; see ``guarded_popen``."""
    return ["sh", "-c", _GUARD + "exit $rc", "sh", *argv]


def split_elapsed(stderr: str) -> tuple[str, float | None]:
    match = _ELAPSED.search(stderr)
    if not match:
        return stderr, None
    return stderr[:match.start()] + stderr[match.end():], int(match.group(1)) / 1e9


def _result(stdout: str, stderr: str, code: int, start: float) -> ExecResult:
    stderr, inside = split_elapsed(stderr)
    stderr, rusage = split_rusage(stderr)
    return ExecResult(stdout, stderr, code, inside, time.monotonic() - start, rusage)


class StopRequest:
    """Asks a running service to stop: what its executor registers (closing the command's
    guard) runs when ``stop`` is called, or at once if it already was."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stopped = False
        self._actions: list[Callable[[], object]] = []

    def on_stop(self, action: Callable[[], object]) -> None:
        with self._lock:
            if not self._stopped:
                self._actions.append(action)
                return
        action()

    def stop(self) -> None:
        with self._lock:
            self._stopped, actions, self._actions = True, self._actions, []
        for action in actions:
            action()


class _Guard:
    """A guard pipe's write end, closed once, by whichever thread comes first."""

    def __init__(self, fd: int) -> None:
        self._fd: int | None = fd
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None


@contextmanager
def guarded_popen(argv: list[str], stop: StopRequest | None = None, grace_s: float = KILL_GRACE_S,
                  **popen: Any) -> Iterator[subprocess.Popen[Any]]:
    """Start ``argv`` with a guard pipe as its stdin, held open while the block runs (or until
    ``stop`` is requested); on the way out, however it ends, the guard closes (so a ``_TIMED``
    command or a guarded server kills what it started) and the process is reaped, KILLed after
    ``grace_s``. The kernel closes the guard too if hostbench is killed outright."""
    read_end, write_end = os.pipe()
    guard = _Guard(write_end)
    try:
        proc = subprocess.Popen(argv, stdin=read_end, **popen)
    except BaseException:
        guard.close()
        raise
    finally:
        os.close(read_end)
    if stop is not None:
        stop.on_stop(guard.close)
    try:
        yield proc
    finally:
        guard.close()
        try:
            proc.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def chroot_argv(rootfs: str, cpuset: str, argv: list[str], scratch: str | None = None
                ) -> list[str]:
    return ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", _CHROOT, "sh",
            rootfs, cpuset, scratch or "", *argv]


class ChrootExecutor:
    """Bare metal: the host's kernel, the image's tree as root, pinned with taskset (on a remote
    host over SSH, whose channel carries the guard)."""

    def __init__(self, env: str, rootfs: str, cpuset: str, scratch: str | None = None,
                 host: Host | None = None) -> None:
        self.env, self.rootfs, self.cpuset, self.scratch = env, rootfs, cpuset, scratch
        self.host = host or LocalHost()

    def run(self, argv: list[str], timeout: float, stop: StopRequest | None = None
            ) -> ExecResult:
        start = time.monotonic()
        grace = _grace_s(stop is not None)
        with guarded_popen(self.host.argv(chroot_argv(
                self.rootfs, self.cpuset, timed_argv(argv, timeout, service=stop is not None),
                self.scratch)), stop, grace, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                text=True, errors="replace") as proc:
            try:
                stdout, stderr = proc.communicate(timeout=timeout + 2 * grace)
            except subprocess.TimeoutExpired:
                raise TrialTimeout(f"no result after {timeout:.0f}s") from None
        if proc.returncode == 124:
            raise TrialTimeout(f"no result after {timeout:.0f}s")
        if self.host.remote and proc.returncode == 255 and _ELAPSED.search(stderr) is None:
            raise TargetUnreachable(f"{self.env} on host {self.host.label}: "
                                    f"{stderr.strip()[-300:] or 'ssh failed'}")
        return _result(stdout, stderr, proc.returncode, start)

    def close(self) -> None:
        pass


def executor_for(target: Target, access: StackAccess) -> Executor:
    """Bare metal runs in the image tree on the host; every other environment over SSH."""
    if target.kind is Kind.BARE:
        assert target.rootfs is not None  # a bare target always has one (Target validates it)
        return ChrootExecutor(target.name, target.rootfs, target.cpuset, target.scratch,
                              access.host)
    assert target.host and target.port and target.user
    if target.nested_port is not None:  # the container inside the VM, through the guest
        return SSHExecutor(target.name, LOOPBACK, target.nested_port, target.user, access,
                           via=(target.host, target.port))
    return SSHExecutor(target.name, target.host, target.port, target.user, access)


def _why(exc: BaseException) -> str:
    import paramiko

    if isinstance(exc, paramiko.SSHException) and "Timeout opening channel" in str(exc):
        return (f"no session opened within {SSH_WAIT_S:g} s: its sshd does not answer (is the "
                "environment frozen, paused or overloaded?)")
    if isinstance(exc, ShellGone):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def _end_input(channel: Any) -> None:
    """Close a command's input (its guard) on a channel that may be closed already."""
    import paramiko

    with suppress(OSError, EOFError, paramiko.SSHException):
        channel.shutdown_write()


class SSHExecutor:
    """The VM or the container, over one SSH connection kept open for the whole run: a trial's
    command goes to a shell kept open there (``LoginShell``), a service's to a session of its
    own, whose end of input stops it."""

    def __init__(self, env: str, host: str, port: int, user: str, access: StackAccess,
                 via: Jump | None = None) -> None:
        self.env, self.host, self.port, self.user, self.access = env, host, port, user, access
        self.via = via
        self._conn: Connection | None = None
        self._reached = False
        self._shell: LoginShell | None = None
        self._shell_busy = threading.Lock()  # a second caller meanwhile gets a session of its own

    def _connection(self) -> Connection:
        if self._conn is None:
            conn = connection(self.host, self.port, self.user, self.access, via=self.via)
            if self.via is not None and not self._reached:
                conn = self._once_started(conn)
            self._conn, self._reached = conn, True
        return self._conn

    def _once_started(self, conn: Connection) -> Connection:
        """The first connection to a container inside a VM, waiting while the guest answers
        and the container does not yet (it starts about a minute after its guest under TCG,
        and `pulumi up` does not wait for it)."""
        import paramiko

        try:
            conn.open()
            return conn
        except paramiko.ChannelException:  # the guest's sshd refused the way to the container
            close(conn)
        assert self.via is not None
        Console(stderr=True).print(untrusted(
            f"{self.env}: its VM answers, its container is still starting; waiting up to "
            f"{STARTING_S:g} s for it", "yellow"), soft_wrap=True)
        wait_for_ssh(self.host, self.port, self.user, self.access, STARTING_S,
                     f"{self.env} (the container inside its VM)", via=self.via)
        return connection(self.host, self.port, self.user, self.access, via=self.via)

    def _where(self) -> str:
        return f"{self.env} ({self.user}@{self.host}:{self.port})"

    def run(self, argv: list[str], timeout: float, stop: StopRequest | None = None
            ) -> ExecResult:
        import paramiko  # loaded where an environment is reached over SSH, as in reach.ssh

        start = time.monotonic()
        deadline = start + timeout + 2 * _grace_s(stop is not None)
        try:
            if stop is None and self._shell_busy.acquire(blocking=False):
                try:
                    stdout, stderr, code = self._in_shell(argv, timeout, deadline)
                finally:
                    self._shell_busy.release()
            else:
                stdout, stderr, code = self._in_session(argv, timeout, stop, deadline)
        except paramiko.BadHostKeyException as exc:
            self.close()
            raise host_key_changed(self.env, self.host, self.port, self.access, exc) from None
        except (OSError, EOFError, paramiko.SSHException) as exc:
            self.close()
            raise TargetUnreachable(f"{self._where()}: {_why(exc)}") from None
        if code == 124:
            raise TrialTimeout(f"no result after {timeout:.0f}s")
        return _result(stdout, stderr, code, start)

    def _in_shell(self, argv: list[str], timeout: float, deadline: float
                  ) -> tuple[str, str, int]:
        """The command in the shell kept open; past ``deadline`` (timeout inside the
        environment did not end it) the environment does not answer."""
        try:
            if self._shell is None:
                conn = self._connection()
                conn.open()
                self._shell = LoginShell.start(conn.transport, _SHELL_FUNCTION, SSH_WAIT_S)
            found = self._shell.run(_timed_parts(argv, timeout, False)[1], deadline)
        except BaseException:  # an interrupt too: the closed session's guard kills the command
            self.close()
            raise
        if found is None:
            self.close()
            raise TargetUnreachable(
                f"{self._where()}: no result within {timeout:.0f} s and the grace after it: "
                "the environment does not answer (is it frozen, paused or overloaded?)")
        return found

    def _in_session(self, argv: list[str], timeout: float, stop: StopRequest | None,
                    deadline: float) -> tuple[str, str, int]:
        """The command in a session of its own (a service: ``stop`` ends its input)."""
        promise = self._connection().run(
            timed_command(argv, timeout, service=stop is not None), hide=True,
            warn=True, in_stream=False, asynchronous=True)
        if stop is not None:  # the end of the channel's input closes the command's guard
            stop.on_stop(partial(_end_input, promise.runner.channel))
        result: Any = self._finished(promise, deadline, timeout)
        if result.exited == -1:  # the channel closed without an exit status
            raise ShellGone("the connection closed before the command finished")
        return result.stdout, result.stderr, result.exited

    def _finished(self, promise: Promise, deadline: float, timeout: float) -> Any:
        """The command's result, waited for here rather than in invoke, which on Ctrl-C waits for
        the remote command to end: an interrupt closes the connection at once, so the guard on
        the other side kills the command, and past the deadline the trial times out."""
        runner: Any = promise.runner  # fabric's Remote, which holds the channel
        try:
            while not runner.process_is_finished:  # woken by the exit status, not by polling
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TrialTimeout(f"no result after {timeout:.0f}s")
                runner.channel.status_event.wait(min(left, 0.5))
        except BaseException:
            self.close()
            raise
        return promise.join()

    def close(self) -> None:
        if self._shell is not None:
            self._shell.close()
            self._shell = None
        if self._conn is not None:
            close(self._conn)
            self._conn = None
