"""e2e fixtures: the real image (built or cached) and a dedicated stack brought up directly."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from hostbench.commands import provision
from hostbench.commands.connections import access
from hostbench.image.build import build_image
from hostbench.image.manifest import ImageManifest
from hostbench.paths import build_dir
from hostbench.provision.plan import ResourcePlan, resource_plan
from hostbench.reach.ssh import connection
from hostbench.stack.spec import StackSpec, load_stack_file
from hostbench.stack.targets import Targets

E2E_STACK = "e2e"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def image() -> ImageManifest:
    return build_image()


def write_stack(directory: Path, name: str, **overrides: object) -> Path:
    """A stack file like the shipped default, on its own port and network."""
    config = {"cores": "[1]", "memory_mib": 1024, "disk_gib": 8, "accel": "auto",
              "ssh_port": 2299, "network_cidr": "192.168.151.0/24",
              "image_manifest": str(build_dir() / "images/current/manifest.json")}
    config.update(overrides)
    path = directory / f"Pulumi.{name}.yaml"
    path.write_text("config:\n" + "".join(f"  hostbench:{k}: {v}\n" for k, v in config.items()))
    return path


@contextmanager
def own_stack(directory: Path, name: str, **overrides: object
              ) -> Iterator[tuple[StackSpec, Targets]]:
    """A test module's own stack, written like the shipped default with ``overrides``, brought
    up with `fab up`'s code (after whatever a killed run left is removed) and removed after."""
    spec = load_stack_file(name, write_stack(directory, name, **overrides))
    provision.down(spec)
    targets = provision.up(spec)
    try:
        yield spec, targets
    finally:
        provision.down(spec)


def ssh_output(targets: Targets, env: str, command: str) -> str:
    """``command``'s output, whatever its exit status, over a plain SSH session to ``env``'s
    address: the environment itself, or for a container inside a VM the guest around it."""
    t = targets.targets[env]
    assert t.host and t.port and t.user
    with connection(t.host, t.port, t.user, access(targets)) as conn:
        return conn.run(command, hide=True, in_stream=False, warn=True).stdout


@pytest.fixture(scope="session")
def e2e_state(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One state dir (keys, targets, pools) for the whole e2e session."""
    state = tmp_path_factory.mktemp("e2e-state")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HOSTBENCH_STATE_DIR", str(state))
        yield state


@pytest.fixture(scope="session")
def e2e_spec(image: ImageManifest, e2e_state: Path,
             tmp_path_factory: pytest.TempPathFactory) -> StackSpec:
    return load_stack_file(E2E_STACK, write_stack(tmp_path_factory.mktemp("stacks"), E2E_STACK))


@pytest.fixture(scope="session")
def e2e_plan(e2e_spec: StackSpec, image: ImageManifest) -> ResourcePlan:
    return resource_plan(e2e_spec, image)


@pytest.fixture(autouse=True)
def isolated_state(e2e_state: Path) -> Path:
    """Overrides the per-test state dir of tests/conftest.py with the session's."""
    return e2e_state


@pytest.fixture(scope="session")
def stack(e2e_spec: StackSpec) -> Iterator[Targets]:
    """The e2e stack, up for the whole session (tests/e2e/test_teardown.py takes it down)."""
    provision.down(e2e_spec)  # a previous run that was killed must not block this one
    targets = provision.up(e2e_spec)
    yield targets
    provision.down(e2e_spec)
