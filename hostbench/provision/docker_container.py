"""The stack's container straight through the Docker Engine API."""

from __future__ import annotations

import io
import shutil
import tarfile

import docker
import docker.errors
from docker.models.containers import Container

from hostbench.errors import HostbenchError
from hostbench.image.manifest import ImageManifest
from hostbench.spec import StackSpec
from hostbench.targets import SCRATCH_DIR, container_scratch_dir


class DockerError(HostbenchError):
    pass


def client() -> docker.DockerClient:
    try:
        c = docker.from_env()
        c.ping()
        return c
    except docker.errors.DockerException as exc:
        raise DockerError(f"cannot reach the Docker engine: {exc}; is dockerd running? "
                          "(scripts/setup starts it)") from None


def _authorized_keys_tar(public_key: str) -> bytes:
    """A tar of .ssh/ (0700) and .ssh/authorized_keys (0600), owned by root, for /root."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        ssh_dir = tarfile.TarInfo(".ssh")
        ssh_dir.type, ssh_dir.mode = tarfile.DIRTYPE, 0o700
        tar.addfile(ssh_dir)
        data = (public_key.strip() + "\n").encode()
        keys = tarfile.TarInfo(".ssh/authorized_keys")
        keys.size, keys.mode = len(data), 0o600
        tar.addfile(keys, io.BytesIO(data))
    return buf.getvalue()


def find(dc: docker.DockerClient, spec: StackSpec) -> Container | None:
    try:
        return dc.containers.get(spec.resource_prefix)
    except docker.errors.NotFound:
        return None


def create(dc: docker.DockerClient, spec: StackSpec, manifest: ImageManifest,
           public_key: str) -> Container:
    """Create and start the pinned, memory-limited container with SSH on 127.0.0.1 only."""
    try:
        dc.images.get(manifest.docker_tag)
    except docker.errors.ImageNotFound:
        raise DockerError(f"Docker image {manifest.docker_tag} is missing: run scripts/build-image"
                          ) from None
    scratch = container_scratch_dir(spec.stack)
    scratch.mkdir(parents=True, exist_ok=True)
    container = dc.containers.create(
        manifest.docker_tag, name=spec.resource_prefix, hostname=spec.resource_prefix,
        cpuset_cpus=spec.cpuset, mem_limit=f"{spec.memory_mib}m",
        memswap_limit=f"{spec.memory_mib}m", ports={"22/tcp": ("127.0.0.1", spec.ssh_port)},
        volumes={str(scratch): {"bind": SCRATCH_DIR, "mode": "rw"}},
        labels={"hostbench.stack": spec.stack}, detach=True)
    container.put_archive("/root", _authorized_keys_tar(public_key))
    try:
        container.start()
    except docker.errors.APIError as exc:
        container.remove(force=True)
        raise DockerError(f"container {spec.resource_prefix} did not start: {exc.explanation}"
                          ) from None
    container.reload()
    return container


def gateway(container: Container) -> str:
    """The host's address on the container's network (docker0's gateway)."""
    return container.attrs["NetworkSettings"]["Gateway"]


def destroy(dc: docker.DockerClient, spec: StackSpec) -> bool:
    container = find(dc, spec)
    if container is None:
        return False
    container.remove(force=True)
    shutil.rmtree(container_scratch_dir(spec.stack), ignore_errors=True)
    return True
