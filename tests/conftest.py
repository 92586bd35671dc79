"""Shared fixtures (every test gets its own state directory), and how the tests share both
cores: unit tests spread over the workers module by module, while the e2e tests form two
groups, one per worker, each in file order: those on the session's e2e stack (core 1), and
those that boot stacks of their own (core 0). A test that stops or restarts a daemon both
groups use runs alone (``disrupts_daemons``)."""

import atexit
import contextlib
import fcntl
import gc
import itertools
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Protocol

import pytest
from xdist.scheduler import LoadScopeScheduling

from hostbench.stack.host import close_remote_hosts
from tests.sshd import Sshd, free_port

SHARED_SCHEMAS = Path(__file__).resolve().parents[2] / "shared" / "schemas"
LEGACY_DB = Path(__file__).resolve().parent / "data" / "legacy" / "results-format1.sqlite"
"""Written by hostbench at f4e0701 (schema 1, run format 1), before environments were values."""


def _leave_without_teardown() -> None:
    """An xdist worker's last exit handler (registered first, it runs after all the others,
    hostbench's included): leave without tearing the interpreter down, which with numpy, scipy,
    matplotlib and Pulumi loaded takes a third of a second that the run waits for."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # closed: nothing left to write
            stream.flush()
    os._exit(0)


if os.environ.get("PYTEST_XDIST_WORKER"):
    atexit.register(_leave_without_teardown)

# The suite runs often: keep compiled modules (and pytest's rewritten tests) cached even where the
# environment sets PYTHONDONTWRITEBYTECODE, which otherwise recompiles everything on every run.
sys.dont_write_bytecode = False


MEMORY_TEMPROOT = Path("/dev/shm")


def pytest_configure(config: pytest.Config) -> None:
    """The quick suite (``-m "not e2e"``) keeps its temporary files in memory where the host has
    a tmpfs: its stores sync every trial, a third of the benchmark tests' time on a busy disk."""
    if (config.getoption("markexpr") == "not e2e" and "PYTEST_DEBUG_TEMPROOT" not in os.environ
            and MEMORY_TEMPROOT.is_dir() and os.access(MEMORY_TEMPROOT, os.W_OK)):
        os.environ["PYTEST_DEBUG_TEMPROOT"] = str(MEMORY_TEMPROOT)


E2E_DIR = Path(__file__).resolve().parent / "e2e"


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """The quick suite leaves tests/e2e uncollected: every test there is e2e (its conftest marks
    them), and importing its modules loaded the Docker and libvirt clients in every worker only
    for their tests to be deselected."""
    if config.getoption("markexpr") == "not e2e" and collection_path == E2E_DIR:
        return True
    return None


_STATES = itertools.count()


@pytest.fixture(autouse=True)
def isolated_state(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
                   ) -> Path:
    """A state directory of the test's own, not created: hostbench makes what it needs (most
    tests need none, and a directory for each would be a third of a second over the suite)."""
    state = tmp_path_factory.getbasetemp() / "state" / str(next(_STATES))
    monkeypatch.setenv("HOSTBENCH_STATE_DIR", str(state))
    return state


def _serving(directory: Path) -> Iterator[Sshd]:
    server = Sshd(directory, free_port()).start()
    try:
        yield server
    finally:
        close_remote_hosts()
        server.stop()


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:
    """A remote host played by a second sshd of this machine (127.0.0.1, its own port and keys),
    shared by a module's tests; every connection hostbench opened to it is closed before it
    stops."""
    yield from _serving(tmp_path_factory.mktemp("sshd"))


@pytest.fixture
def fresh_sshd(tmp_path: Path) -> Iterator[Sshd]:
    """The same, for one test alone (one that stops it, or gives it a new host key)."""
    yield from _serving(tmp_path / "sshd")


SSH_FIXTURES = {"sshd", "fresh_sshd"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that needs a real sshd counts as e2e, wherever it lives."""
    for item in items:
        if SSH_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.e2e)


E2E_TIMEOUT_S = 1800
"""A hung e2e test fails after this long with its stack printed (pytest-timeout); the longest
take minutes. Every other test gets pyproject's `timeout`."""


class Marked(Protocol):
    def get_closest_marker(self, name: str) -> pytest.Mark | None: ...
    def add_marker(self, marker: pytest.MarkDecorator) -> None: ...


def give_e2e_timeouts(items: Iterable[Marked]) -> None:
    """Each e2e test not given its own timeout gets the e2e one."""
    for item in items:
        if item.get_closest_marker("e2e") and not item.get_closest_marker("timeout"):
            item.add_marker(pytest.mark.timeout(E2E_TIMEOUT_S))


gc.disable()
"""Collecting imports every test module and what it imports, and creates objects that live as
long as the run: the collector's walks over them found nothing to free, a tenth of each
worker's collection. It runs again once collection is done (or, in xdist's controller, which
collects nothing, once the session starts)."""


def pytest_sessionstart(session: pytest.Session) -> None:
    if session.config.getvalue("dist") != "no" and not hasattr(session.config, "workerinput"):
        gc.enable()


def pytest_collection_finish(session: pytest.Session) -> None:
    """After every conftest has marked its e2e tests. What collection imported lives as long as
    the run: frozen, the collector never walks it again (each full collection did, a tenth of the
    quick suite's time)."""
    give_e2e_timeouts(session.items)
    gc.freeze()
    gc.enable()


DRAWING = ("tests/unit/report/test_run_report.py", "tests/unit/analysis/test_compare.py",
           "tests/unit/report/test_lifecycle_report.py",
           "tests/unit/report/test_evidence_report.py", "tests/unit/analysis/test_overheads.py")
"""Modules that draw figures: on one worker, so that only one of them loads matplotlib."""


E2E_STACK, OWN_STACKS = "tests/e2e", "tests/e2e (own stacks)"
OWN_STACK_MODULES = ("tests/e2e/test_factors.py", "tests/e2e/test_lifecycle.py",
                     "tests/e2e/test_nested.py", "tests/e2e/test_remote.py",
                     "tests/e2e/test_up_down_faults.py")
"""e2e modules that boot stacks of their own, on core 0: they run beside the e2e stack's."""


LONGEST = ("drawing", "tests/unit/commands/test_benchmark.py",
           "tests/unit/commands/test_fleet.py", "tests/unit/reach/test_executors.py",
           "tests/unit/analysis/test_error_rates.py", "tests/unit/test_hostile_input.py",
           "tests/infra/test_program.py", "tests/unit/test_signals.py",
           "tests/unit/test_layout.py", "tests/unit/run/test_services.py")
"""The quick suite's longest units of work (1 to 4 s each on 2026-12-07), longest first. xdist
hands units out in order of their number of tests, which left a long one with few tests (the
SSH or the executor tests) to one worker at the end while the other had finished; given out
first, the short units fill in at the end."""


class StacksTogether(LoadScopeScheduling):
    """Load by module, except that the e2e tests are two units of work, given first and to
    different workers, and the modules that draw figures one; the longest units go out first."""

    _longest_first = False

    def _split_scope(self, nodeid: str) -> str:
        if nodeid.startswith(OWN_STACK_MODULES):
            return OWN_STACKS
        if nodeid.startswith("tests/e2e/"):
            return E2E_STACK
        if nodeid.startswith(DRAWING):
            return "drawing"
        return super()._split_scope(nodeid)

    def _assign_work_unit(self, node: Any) -> None:
        if not self._longest_first:
            for scope in reversed(LONGEST):
                if scope in self.workqueue:
                    self.workqueue.move_to_end(scope, last=False)
            self._longest_first = True
        for scope in (E2E_STACK, OWN_STACKS):  # the longest units first, one per worker
            if scope in self.workqueue:
                self.workqueue.move_to_end(scope, last=False)
                break
        super()._assign_work_unit(node)


def _lock_file(name: str) -> int:
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID", str(os.getpid()))
    return os.open(Path(tempfile.gettempdir()) / f"hostbench-e2e-{run}.{name}",
                   os.O_RDWR | os.O_CREAT, 0o600)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None
                            ) -> Iterator[None]:
    """Every e2e test (its fixtures' set-up and teardown included) shares the daemons; one
    marked ``disrupts_daemons`` has them alone. The turnstile keeps a waiting one from being
    starved by the other worker's tests."""
    if not item.get_closest_marker("e2e"):
        yield
        return
    alone = item.get_closest_marker("disrupts_daemons") is not None
    daemons, turnstile = _lock_file("daemons"), _lock_file("turnstile")
    try:
        fcntl.flock(turnstile, fcntl.LOCK_EX)
        fcntl.flock(daemons, fcntl.LOCK_EX if alone else fcntl.LOCK_SH)
    finally:
        os.close(turnstile)
    try:
        yield
    finally:
        os.close(daemons)


def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> LoadScopeScheduling | None:
    if config.getvalue("dist") == "loadscope":
        return StacksTogether(config, log)
    return None


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 4 MiB tmpfs, to be filled (mounting one needs root: skipped without)."""
    mountpoint = tmp_path / "tiny"
    mountpoint.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mountpoint)],
                      capture_output=True).returncode != 0:
        pytest.skip("mounting a tmpfs needs root")
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", "-l", str(mountpoint)], check=True)
