"""Runs last (file order): `down` removes everything the e2e stack created."""

from __future__ import annotations

import docker
import libvirt

from hostbench.commands import provision
from hostbench.provision.plan import ResourcePlan
from hostbench.stack.targets import saved_targets_file


def _leftovers(plan: ResourcePlan) -> list[str]:
    name = plan.prefix
    conn = libvirt.open(plan.libvirt_uri)
    found = [f"domain {d.name()}" for d in conn.listAllDomains() if d.name().startswith(name)]
    found += [f"network {n.name()}" for n in conn.listAllNetworks() if n.name().startswith(name)]
    for pool in conn.listAllStoragePools():
        if pool.name().startswith(name):
            found.append(f"pool {pool.name()}")
        elif pool.isActive():
            found += [f"volume {v.name()}" for v in pool.listAllVolumes() if name in v.name()]
    found += [f"container {c.name}" for c in docker.from_env().containers.list(all=True)
              if (c.name or "").startswith(name)]
    for directory in (plan.pool_path, plan.scratch_root):
        if directory.exists():
            found.append(f"directory {directory}")
    return found


def test_down_leaves_nothing_behind(stack, e2e_spec, e2e_plan):
    assert _leftovers(e2e_plan) != []  # the check sees the running stack...
    provision.down(e2e_spec)
    assert _leftovers(e2e_plan) == []  # ...and nothing after down
    assert not saved_targets_file(e2e_spec.stack).exists()


def test_down_removes_what_it_can_when_docker_is_unreachable_and_finishes_later(
        e2e_spec, e2e_plan, monkeypatch):
    """A half-built stack (a container; a network; a pool defined but never built) taken down
    while the Docker engine cannot be reached: the libvirt parts go, the container is named as
    what remains, and a second `down` with the engine back finishes the job."""
    from hostbench.errors import HostbenchError
    from hostbench.provision import docker_backend
    from hostbench.provision.domain_xml import network_xml, pool_xml
    from hostbench.stack.keys import ensure_stack_key

    key = ensure_stack_key(e2e_spec.stack)
    docker_backend.create(docker.from_env(), e2e_spec.machine, e2e_plan.containers[0],
                          key.public_openssh)
    conn = libvirt.open(e2e_plan.libvirt_uri)
    conn.networkDefineXML(network_xml(e2e_plan.network)).create()
    conn.storagePoolDefineXML(pool_xml(e2e_plan.pool, e2e_plan.pool_path), 0)
    assert not e2e_plan.pool_path.exists()  # defined, never built
    with monkeypatch.context() as engine_down:
        engine_down.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        try:
            provision.down(e2e_spec)
            raise AssertionError("down reported success with a container left")
        except HostbenchError as exc:
            message = str(exc)
    assert "Docker engine" in message and "fab down" in message
    container = f"container {e2e_plan.containers[0].name}"
    left = set(_leftovers(e2e_plan))  # the container, and its scratch directory with it
    assert container in left and left <= {container, f"directory {e2e_plan.scratch_root}"}
    assert e2e_plan.containers[0].name in message
    provision.down(e2e_spec)
    assert _leftovers(e2e_plan) == []
