"""The stack's containers straight through the Docker Engine API."""

from __future__ import annotations

import contextlib
import io
import shutil
import tarfile
from pathlib import Path

import docker
import docker.errors
import requests
from docker.models.containers import Container

from hostbench.errors import HostbenchError
from hostbench.provision.plan import (
    AUTHORIZED_KEYS,
    AUTHORIZED_KEYS_MODE,
    CONTAINER_RESTART,
    LOOPBACK,
    SCRATCH_DIR,
    SSH_DIR_MODE,
    SSH_PORT,
    ContainerPlan,
    Host,
    ResourcePlan,
)

ENGINE_ERRORS = (docker.errors.DockerException, requests.exceptions.RequestException)
"""What the Docker SDK raises: its own errors, and requests' when the engine's socket is gone."""


class DockerError(HostbenchError):
    pass


RUNSC_HINT = ("; gVisor (runsc) must be installed and registered as a Docker runtime: "
              "scripts/setup does both")


def client(host: Host) -> docker.DockerClient:
    """The Docker engine of ``host``, answering."""
    try:
        c = host.docker()
        c.ping()
        return c
    except ENGINE_ERRORS as exc:
        raise DockerError(f"cannot reach the Docker engine of {host.label}: {exc}; is dockerd "
                          "running? (scripts/setup starts it)") from None


def _authorized_keys_tar(public_key: str) -> bytes:
    """A tar of AUTHORIZED_KEYS and its directory, owned by root, to unpack in the directory's
    parent."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        ssh_dir = tarfile.TarInfo(AUTHORIZED_KEYS.parent.name)
        ssh_dir.type, ssh_dir.mode = tarfile.DIRTYPE, SSH_DIR_MODE
        tar.addfile(ssh_dir)
        data = (public_key.strip() + "\n").encode()
        keys = tarfile.TarInfo(f"{ssh_dir.name}/{AUTHORIZED_KEYS.name}")
        keys.size, keys.mode = len(data), AUTHORIZED_KEYS_MODE
        tar.addfile(keys, io.BytesIO(data))
    return buf.getvalue()


def stack_containers(dc: docker.DockerClient, plan: ResourcePlan) -> list[Container]:
    """The stack's containers: those the plan names and any other labelled with the stack."""
    found = {c.name: c for c in dc.containers.list(
        all=True, filters={"label": plan.owner_label})}
    for ctr in plan.containers:
        if ctr.name not in found:
            with contextlib.suppress(docker.errors.NotFound):
                found[ctr.name] = dc.containers.get(ctr.name)
    return list(found.values())


def create(dc: docker.DockerClient, host: Host, ctr: ContainerPlan, public_key: str
           ) -> Container:
    """Create and start the pinned, memory-limited container with SSH on LOOPBACK only."""
    return start(create_stopped(dc, host, ctr, public_key), ctr)


def create_stopped(dc: docker.DockerClient, host: Host, ctr: ContainerPlan, public_key: str
                   ) -> Container:
    """The container created with the stack key in root's authorized_keys, not yet started."""
    try:
        dc.images.get(ctr.image)
    except docker.errors.ImageNotFound:
        raise DockerError(f"Docker image {ctr.image} is missing: run scripts/build-image"
                          ) from None
    volumes = {}
    if ctr.scratch_dir is not None:
        host.output(["mkdir", "-p", "--", str(ctr.scratch_dir)])
        volumes[str(ctr.scratch_dir)] = {"bind": SCRATCH_DIR, "mode": "rw"}
    try:
        container = dc.containers.create(
            ctr.image, command=list(ctr.command) or None, name=ctr.name, hostname=ctr.name,
            cpuset_cpus=ctr.cpuset, mem_limit=f"{ctr.memory_mib}m",
            memswap_limit=f"{ctr.memory_swap_mib}m", runtime=ctr.runtime,
            network_mode=ctr.network_mode, security_opt=list(ctr.security_opts) or None,
            ports=None if ctr.host_network else {f"{SSH_PORT}/tcp": (LOOPBACK, ctr.ssh_port)},
            volumes=volumes, labels=ctr.labels, detach=True,
            # The stubs know only "always" and "on-failure"; Docker takes "unless-stopped" too.
            restart_policy={"Name": CONTAINER_RESTART})  # type: ignore[arg-type]
    except docker.errors.APIError as exc:
        raise DockerError(f"container {ctr.name} cannot be created: {exc.explanation}"
                          f"{RUNSC_HINT if 'runsc' in str(exc.explanation) else ''}") from None
    container.put_archive(str(AUTHORIZED_KEYS.parent.parent), _authorized_keys_tar(public_key))
    return container


def start(container: Container, ctr: ContainerPlan) -> Container:
    """Start a created container (removed again if it cannot start); returns it running."""
    try:
        container.start()
    except docker.errors.APIError as exc:
        container.remove(force=True)
        raise DockerError(f"container {ctr.name} did not start: {exc.explanation}") from None
    container.reload()
    return container


def gateway(container: Container) -> str:
    """The host's address on the container's network (docker0's gateway)."""
    return container.attrs["NetworkSettings"]["Gateway"]


def remove(dc: docker.DockerClient, host: Host, ctr: ContainerPlan) -> None:
    """One container gone, with its scratch directory; absent is fine."""
    try:
        dc.containers.get(ctr.name).remove(force=True)
    except docker.errors.NotFound:
        pass
    except ENGINE_ERRORS as exc:
        raise DockerError(f"removing container {ctr.name} failed: {exc}") from None
    if ctr.scratch_dir is not None:
        remove_tree(host, ctr.scratch_dir)


def remove_tree(host: Host, path: Path) -> None:
    """A directory of the host gone, absent or not."""
    if host.remote:
        host.output(["rm", "-rf", "--", str(path)])
    else:
        shutil.rmtree(path, ignore_errors=True)


def destroy(dc: docker.DockerClient, host: Host, plan: ResourcePlan) -> list[str]:
    """Remove the stack's containers and their scratch directories; returns their names."""
    removed = []
    try:
        for container in stack_containers(dc, plan):
            container.remove(force=True)
            removed.append(container.name or container.short_id)
    except ENGINE_ERRORS as exc:
        raise DockerError(f"removing the containers failed: {exc}") from None
    remove_tree(host, plan.scratch_root)
    return removed
