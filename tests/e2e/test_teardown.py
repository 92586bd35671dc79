"""Runs last (file order): `down` removes everything the e2e stack created."""

from __future__ import annotations

import docker
import libvirt

from hostbench.paths import libvirt_pool_dir
from hostbench.provision import direct
from hostbench.provision.libvirt_vm import LIBVIRT_URI
from hostbench.spec import StackSpec
from hostbench.target_source import saved_targets_file
from hostbench.targets import container_scratch_dir


def _leftovers(spec: StackSpec) -> list[str]:
    name = spec.resource_prefix
    conn = libvirt.open(LIBVIRT_URI)
    found = [f"domain {d.name()}" for d in conn.listAllDomains() if d.name().startswith(name)]
    found += [f"network {n.name()}" for n in conn.listAllNetworks() if n.name().startswith(name)]
    for pool in conn.listAllStoragePools():
        if pool.name().startswith(name):
            found.append(f"pool {pool.name()}")
        elif pool.isActive():
            found += [f"volume {v.name()}" for v in pool.listAllVolumes() if name in v.name()]
    found += [f"container {c.name}" for c in docker.from_env().containers.list(all=True)
              if c.name.startswith(name)]
    for directory in (libvirt_pool_dir(name), container_scratch_dir(spec.stack)):
        if directory.exists():
            found.append(f"directory {directory}")
    return found


def test_down_leaves_nothing_behind(stack, e2e_spec):
    assert _leftovers(e2e_spec) != []  # the check sees the running stack...
    direct.down(e2e_spec)
    assert _leftovers(e2e_spec) == []  # ...and nothing after down
    assert not saved_targets_file(e2e_spec.stack).exists()
