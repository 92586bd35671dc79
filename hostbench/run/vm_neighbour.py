"""A VM's stressing neighbour: a second VM from the stack's image, declared by the resource plan
and made by the libvirt backend like the stack's own, booted once per run (a TCG boot takes
minutes), paused between its trials, its stressor started in it for each trial and stopped
after, and removed when the run ends."""

from __future__ import annotations

import shlex
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import libvirt

from hostbench.errors import HostbenchError
from hostbench.image.manifest import load_manifest
from hostbench.polling import wait_until
from hostbench.provision import libvirt_backend
from hostbench.provision.direct import DirectBackend
from hostbench.provision.plan import (
    BOOT_TIMEOUT_S,
    SSH_PORT,
    VmPlan,
    neighbour_vm,
    resource_plan,
)
from hostbench.reach.executors import SSHExecutor, timed_command
from hostbench.reach.ssh import StackAccess, close, connection, private_key, wait_for_ssh
from hostbench.run.stressors import Stressor
from hostbench.stack.keys import known_hosts_file
from hostbench.stack.targets import SCRATCH_DIR, SSH_USER, Target, Targets

Say = Callable[[str], None]

NEIGHBOUR_DIR = f"{SCRATCH_DIR}/hostbench-neighbour"
"""The stressor's writable directory in the neighbour VM, emptied after each trial."""
COMMAND_TIMEOUT_S = 60.0
IDLE_SHARE = 0.5
"""A stopped stressor leaves the neighbour's vCPU threads below this share of their cores (an idle
TCG guest uses 10-25% of its core here; a stressor all of it)."""
IDLE_WINDOW_S = 0.5
IDLE_WAIT_S = 15.0


def public_key(private_openssh: str) -> str:
    """The stack key's public half, as a seed's authorized key."""
    key = private_key(private_openssh)
    return f"{key.get_name()} {key.get_base64()}"


class NeighbourVm:
    """One neighbour VM of the stack: created from its plan entry, reached over SSH with the
    stack key (its host key pinned in a file of its own, new at every boot)."""

    def __init__(self, backend: DirectBackend, vm: VmPlan, access: StackAccess, key: str
                 ) -> None:
        self.backend, self.vm, self.access, self.key = backend, vm, access, key
        self._domain: libvirt.virDomain | None = None
        self._shell: SSHExecutor | None = None

    @property
    def name(self) -> str:
        return self.vm.domain

    def boot(self, binaries: Mapping[str, str], say: Say) -> None:
        """Create and start it, wait until it answers SSH, check that the stressors' binaries
        are the image's (sha256 as in the manifest), and pause it until its first trial."""
        self.remove()  # one a killed run left behind
        self.access.known_hosts.unlink(missing_ok=True)
        conn, plan = self.backend.libvirt, self.backend.plan
        started = time.monotonic()
        say(f"booting neighbour VM {self.name} (vCPUs on cores {self.vm.cores}, "
            f"{self.vm.memory_mib} MiB, {plan.accel})")
        with libvirt_backend.answering(conn, plan.libvirt_uri):
            domain = libvirt_backend.create_vm(conn, self.backend.pool(), plan, self.vm,
                                               self.key, lambda _msg: None)
            self._domain = domain
            address = libvirt_backend.wait_for_lease(conn, plan, domain, BOOT_TIMEOUT_S,
                                                     lambda _msg: None)
        wait_for_ssh(address, SSH_PORT, SSH_USER, self.access, BOOT_TIMEOUT_S,
                     f"neighbour VM {self.name}", still_alive=lambda: bool(domain.isActive()))
        self._shell = SSHExecutor(self.name, address, SSH_PORT, SSH_USER, self.access)
        self._check_binaries(binaries)
        domain.suspend()
        say(f"neighbour VM {self.name} up at {address} after "
            f"{time.monotonic() - started:.0f}s")

    def _run(self, argv: list[str]) -> str:
        assert self._shell is not None, "boot() first"
        result = self._shell.run(argv, COMMAND_TIMEOUT_S)
        if result.exit_code != 0:
            raise HostbenchError(f"neighbour VM {self.name}: {shlex.join(argv)} failed "
                                 f"(exit code {result.exit_code}): {result.stderr[-300:]}")
        return result.stdout

    def _check_binaries(self, binaries: Mapping[str, str]) -> None:
        found = {}
        for line in self._run(["sha256sum", "--", *binaries]).splitlines():
            digest, path = line.split(maxsplit=1)
            found[path] = digest
        for path, digest in binaries.items():
            if found.get(path) != digest:
                raise HostbenchError(f"neighbour VM {self.name}: {path} has sha256 "
                                     f"{found.get(path)}, the image manifest says {digest}")

    @property
    def domain(self) -> libvirt.virDomain:
        assert self._domain is not None, "boot() first"
        return self._domain

    def vcpu_seconds(self) -> float:
        """Host CPU time of its vCPU threads so far (libvirt reads them from the host)."""
        try:
            return sum(vcpu[2] for vcpu in self.domain.vcpus()[0]) / 1e9
        except libvirt.libvirtError as exc:
            raise HostbenchError(f"neighbour VM {self.name}: cannot read its vCPUs' CPU time: "
                                 f"{exc}") from None

    def _wait_idle(self, stressor: Stressor) -> None:
        """Seen from the host: its vCPU threads go idle once the stressor is killed."""
        share = 1.0

        def idle() -> bool:
            nonlocal share
            before, start = self.vcpu_seconds(), time.monotonic()
            time.sleep(IDLE_WINDOW_S)
            share = (self.vcpu_seconds() - before) / (time.monotonic() - start) / self.vm.vcpus
            return share < IDLE_SHARE

        if not wait_until(idle, IDLE_WAIT_S, 0):
            raise HostbenchError(f"neighbour VM {self.name}: its vCPUs still use {share:.0%} "
                                 f"of their cores {IDLE_WAIT_S:g} s after stressor "
                                 f"{stressor.name} was killed")

    def _set_paused(self, paused: bool) -> None:
        state = self.domain.state()[0]
        if paused and state == libvirt.VIR_DOMAIN_RUNNING:
            self.domain.suspend()
        elif not paused and state == libvirt.VIR_DOMAIN_PAUSED:
            self.domain.resume()

    @contextmanager
    def stressing(self, stressor: Stressor, limit_s: float) -> Iterator[None]:
        """The neighbour resumed and the stressor running in it while the block runs; then its
        process group killed (by the guard of its SSH session, which closes), the vCPUs seen
        idle from the host, its directory emptied and the neighbour paused again."""
        self._set_paused(False)
        try:
            self._run(["mkdir", "-p", "--", NEIGHBOUR_DIR])
            assert self._shell is not None
            conn = connection(self._shell.host, SSH_PORT, SSH_USER, self.access)
            try:
                promise = conn.run(timed_command(
                    stressor.argv(self.vm.vcpus, NEIGHBOUR_DIR), limit_s), hide=True, warn=True,
                    in_stream=False, asynchronous=True)
                yield
                if promise.runner.process_is_finished:
                    result = promise.join()
                    raise HostbenchError(f"stressor {stressor.name} stopped before the trial "
                                         f"ended (neighbour VM {self.name}, exit code "
                                         f"{result.exited}): {result.stderr[-300:]}")
            finally:
                close(conn)
            self._wait_idle(stressor)
            self._run(["rm", "-rf", "--", NEIGHBOUR_DIR])
        finally:
            self._set_paused(True)

    def remove(self) -> None:
        """Its domain, root volume and seed gone (whatever of them exists)."""
        if self._shell is not None:
            self._shell.close()
        with libvirt_backend.answering(self.backend.libvirt, self.backend.plan.libvirt_uri):
            libvirt_backend.remove_vm(self.backend.libvirt, self.backend.pool(), self.vm)
        self._domain = self._shell = None


class NeighbourVms:
    """The run's neighbour VMs, one per measured VM, each booted when first asked for; ``remove``
    removes them all, whatever happened."""

    def __init__(self, targets: Targets, say: Say) -> None:
        self.targets, self.say = targets, say
        self.booted: list[NeighbourVm] = []
        self._backend: DirectBackend | None = None

    def _backend_for_stack(self) -> DirectBackend:
        if self._backend is None:
            image = load_manifest(Path(self.targets.image.manifest))
            self._backend = DirectBackend(resource_plan(self.targets.spec, image))
        return self._backend

    def booted_for(self, target: Target, cores: Sequence[int]
                   ) -> Callable[[Stressor, float], AbstractContextManager[None]]:
        """Boots ``target``'s neighbour VM on ``cores`` (every binary the image hashes checked
        in it, the stressors' among them); returns what runs a stressor in it."""
        backend = self._backend_for_stack()
        plan = backend.plan
        vm = next(v for v in plan.vms if v.env.name == target.name)
        access = StackAccess(self.targets.ssh_private_key,
                             known_hosts_file(self.targets.stack).with_name(
                                 f"known_hosts-{vm.env.name}-neighbour"),
                             self.targets.spec.machine)
        neighbour = NeighbourVm(backend, neighbour_vm(plan, vm, tuple(cores)), access,
                                public_key(self.targets.ssh_private_key))
        self.booted.append(neighbour)
        neighbour.boot(plan.image.binaries, self.say)
        return neighbour.stressing

    def remove(self) -> list[str]:
        """Every neighbour VM removed; returns what could not be, with why."""
        problems = []
        for neighbour in self.booted:
            try:
                neighbour.remove()
            except (HostbenchError, libvirt.libvirtError) as exc:
                problems.append(f"neighbour VM {neighbour.name}: {exc}")
        return problems
