"""Services inside an environment (Redis, MariaDB, nginx): started for one trial, ready when the
host can connect to them, stopped with their whole process group when the trial ends (the end
of the command's input: no second command into the environment)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from types import TracebackType

from hostbench.errors import HostbenchError
from hostbench.polling import wait_until
from hostbench.reach.executors import STOP_GRACE_S, ExecResult, Executor, StopRequest, TrialTimeout
from hostbench.reach.ssh import TargetUnreachable
from hostbench.run.firewall import only_from
from hostbench.stack.host import Host, HostCommandError

CONNECT_TIMEOUT_S = 1.0


class ServiceError(HostbenchError):
    pass


def accepts(address: str, port: int) -> bool:
    """Whether something accepts TCP connections at address:port (connected and closed)."""
    try:
        with socket.create_connection((address, port), timeout=CONNECT_TIMEOUT_S):
            return True
    except OSError:
        return False


PortProbe = Callable[[str, int], bool]
_PROBE = 'exec 3<>"/dev/tcp/$1/$2"'


def accepts_on(host: Host) -> PortProbe:
    """Whether a service accepts connections, asked where its clients run: on the host (the
    environment's address may be reachable from the host only)."""
    if not host.remote:
        return accepts

    def probe(address: str, port: int) -> bool:
        try:
            host.output(["timeout", f"{CONNECT_TIMEOUT_S:g}", "bash", "-c", _PROBE, "bash",
                         address, str(port)], timeout=CONNECT_TIMEOUT_S + 15)
            return True
        except HostCommandError:
            return False

    return probe


def _output(result: ExecResult | BaseException | None) -> str:
    if isinstance(result, ExecResult):
        return f"exit code {result.exit_code}: {(result.stderr or result.stdout).strip()[-300:]}"
    return f"{type(result).__name__}: {result}" if result else "no output"


class ServiceInEnvironment:
    """Context manager: ``argv`` runs inside the environment (through ``executor``, under its
    timeout and guard) until the block ends, then its process group is stopped; entering fails
    with the service's own output when it exits or does not accept connections in time. Given a
    ``client`` address (the load generator's), only that one reaches the service (a firewall
    rule tagged ``tag`` on ``host``, removed when the service stops)."""

    def __init__(self, executor: Executor, argv: list[str], address: str, port: int,
                 timeout_s: float, ready_timeout_s: float, log: Path,
                 probe: PortProbe = accepts, client: str | None = None, tag: str = "hostbench",
                 host: Host | None = None) -> None:
        self.executor, self.argv, self.address, self.port = executor, argv, address, port
        self.probe, self.client, self.tag, self.host = probe, client, tag, host
        self._rule = ExitStack()
        self.timeout_s, self.ready_timeout_s, self.log = timeout_s, ready_timeout_s, log
        self._stop = StopRequest()
        self.result: ExecResult | BaseException | None = None
        self._thread = threading.Thread(target=self._serve, name=f"service {argv[0]}",
                                        daemon=True)

    def _serve(self) -> None:
        try:
            self.result = self.executor.run(self.argv, self.timeout_s, self._stop)
        except (TargetUnreachable, TrialTimeout, HostbenchError) as exc:
            self.result = exc

    def __enter__(self) -> ServiceInEnvironment:
        if accepts(self.address, self.port):
            raise ServiceError(f"{self.address}:{self.port} already accepts connections before "
                               f"{self.argv[0]} starts: stop whatever listens there")
        if self.client is not None:
            self._rule.enter_context(only_from(self.client, self.address, self.port, self.tag,
                                               host=self.host))
        try:
            self._thread.start()
            self._wait_until_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_until_ready(self) -> None:
        def accepts() -> bool:
            if self.probe(self.address, self.port):
                return True
            if not self._thread.is_alive():
                raise ServiceError(f"service {self.argv[0]} exited before it accepted "
                                   f"connections: {_output(self.result)}")
            return False

        # most services are up within milliseconds; slower ones (nginx under TCG, 0.4 s) are
        # asked every 25 ms (a refused connection costs far less): asked up to 100 ms apart,
        # nginx in the TCG VM was found ready about 30 ms late a trial
        if not wait_until(accepts, self.ready_timeout_s, 0.01, max_interval_s=0.025):
            raise ServiceError(f"service {self.argv[0]} did not accept connections on "
                               f"{self.address}:{self.port} within {self.ready_timeout_s:g}"
                               f" s; see {self.log}")

    def exited_early(self) -> str | None:
        """Why the service is gone before it was stopped, if it is."""
        if self._thread.is_alive():
            return None
        return f"service {self.argv[0]} exited during the trial: {_output(self.result)}"

    def stop(self) -> None:
        """End the service's process group (TERM, then KILL) and wait for it, then its firewall
        rule goes; idempotent."""
        with self._rule:
            self._stop_group()

    def _stop_group(self) -> None:
        self._stop.stop()  # an unreachable one: its guard ends it with the connection
        if self._thread.is_alive():
            self._thread.join(STOP_GRACE_S + 30)
        if isinstance(self.result, ExecResult):
            self.log.parent.mkdir(parents=True, exist_ok=True)
            self.log.write_text(f"$ {' '.join(self.argv)}\n# {_output(self.result)}\n"
                                f"## stdout\n{self.result.stdout}\n## stderr\n"
                                f"{self.result.stderr}\n")

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
