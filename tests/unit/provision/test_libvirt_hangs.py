"""A libvirtd that stops answering (stopped, hung) ends a libvirt call within a bound, with a
message naming libvirtd: the real daemon, reached through a proxy that the test freezes."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import selectors
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hostbench.image.manifest import ImageManifest
from hostbench.provision import libvirt_backend
from hostbench.provision.libvirt_backend import LibvirtError
from hostbench.provision.plan import ResourcePlan, resource_plan
from hostbench.stack.spec import StackSpec
from tests.unit.fakes import write_manifest

pytestmark = pytest.mark.e2e
LIBVIRTD = "/var/run/libvirt/libvirt-sock"
BOUND_S = 60  # what the test waits at most; the bound under test is far below it


class FreezingProxy:
    """Passes bytes between clients and libvirtd's socket until ``freeze`` is set."""

    def __init__(self, path: Path) -> None:
        self.path, self.freeze = path, threading.Event()
        self.server = socket.socket(socket.AF_UNIX)
        self.server.bind(str(path))
        self.server.listen()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                client, _ = self.server.accept()
                daemon = socket.socket(socket.AF_UNIX)
                daemon.connect(LIBVIRTD)
                threading.Thread(target=self._pump, args=(client, daemon), daemon=True).start()

    def _pump(self, client: socket.socket, daemon: socket.socket) -> None:
        other = {client: daemon, daemon: client}
        with selectors.DefaultSelector() as sel, contextlib.suppress(OSError):
            for end in other:
                sel.register(end, selectors.EVENT_READ)
            while not self.freeze.is_set():
                for key, _ in sel.select(0.05):
                    if self.freeze.is_set():
                        break
                    data = key.fileobj.recv(65536)  # type: ignore[union-attr]
                    if not data:
                        return
                    other[key.fileobj].sendall(data)  # type: ignore[index]
            self.freeze.wait()  # frozen: connections stay open, nothing answers

    def close(self) -> None:
        self.server.close()


@pytest.fixture
def proxy(tmp_path: Path) -> Iterator[FreezingProxy]:
    if not os.path.exists(LIBVIRTD):
        pytest.skip("libvirtd is not running")
    proxy = FreezingProxy(tmp_path / "libvirt.sock")
    yield proxy
    proxy.close()


def _bounded(call, seconds: float) -> BaseException | None:
    """Run ``call`` in a thread; the exception it raised (None if it returned), or fail the test
    when it still runs after ``seconds``."""
    outcome: list[BaseException | None] = []

    def run() -> None:
        try:
            call()
            outcome.append(None)
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        pytest.fail(f"still waiting for libvirtd after {seconds} s: no bound")
    return outcome[0]


def _plan(directory: Path, uri: str) -> ResourcePlan:
    manifest = write_manifest(directory)
    spec = StackSpec(stack="frozen", source="stacks/Pulumi.frozen.yaml", cores=(1,),
                     memory_mib=1024, accel="tcg", image_manifest=str(manifest))
    plan = resource_plan(spec, ImageManifest.model_validate_json(manifest.read_text()))
    return dataclasses.replace(plan, libvirt_uri=uri)


def test_teardown_with_a_libvirtd_that_stops_answering_ends_naming_it(proxy, tmp_path):
    """What `fab down` does with libvirt, the daemon going silent once connected."""
    plan = _plan(tmp_path, f"qemu+unix:///system?socket={proxy.path}")
    conn = libvirt_backend.connect(plan.libvirt_uri)
    assert libvirt_backend.exists(conn, plan) == []  # answered through the proxy
    proxy.freeze.set()
    started = time.monotonic()
    error = _bounded(lambda: libvirt_backend.destroy(conn, plan, lambda _what: None), BOUND_S)
    assert isinstance(error, LibvirtError), error
    assert f"libvirtd at {plan.libvirt_uri} stopped answering" in str(error)
    assert time.monotonic() - started < libvirt_backend.KEEPALIVE_BOUND_S + 10


def test_a_libvirtd_that_does_not_answer_at_all_is_named_within_a_bound(proxy, monkeypatch):
    monkeypatch.setattr(libvirt_backend, "OPEN_TIMEOUT_S", 3)  # 30 s as shipped
    proxy.freeze.set()
    uri = f"qemu+unix:///system?socket={proxy.path}"
    error = _bounded(lambda: libvirt_backend.connect(uri), BOUND_S)
    assert isinstance(error, LibvirtError), error
    assert f"libvirtd at {uri} did not answer within 3 s" in str(error)
