"""Shared fixtures (every test gets its own state directory), and how the tests share both
cores: unit tests spread over the workers module by module, while every e2e test stays on one
worker, in file order, because they share the stacks a session boots."""

import atexit
import contextlib
import itertools
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from xdist.scheduler import LoadScopeScheduling

from hostbench.stack.host import close_all
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
        close_all()
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


DRAWING = ("tests/unit/report/test_run_report.py", "tests/unit/analysis/test_compare.py",
           "tests/unit/report/test_lifecycle_report.py",
           "tests/unit/analysis/test_overheads.py")
"""Modules that draw figures: on one worker, so that only one of them loads matplotlib."""


class StacksTogether(LoadScopeScheduling):
    """Load by module, except that all of tests/e2e is one unit of work, and so are the modules
    that draw figures."""

    def _split_scope(self, nodeid: str) -> str:
        if nodeid.startswith("tests/e2e/"):
            return "tests/e2e"
        if nodeid.startswith(DRAWING):
            return "drawing"
        return super()._split_scope(nodeid)


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
