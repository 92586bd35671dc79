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
              if c.name.startswith(name)]
    for directory in (plan.pool_path, plan.scratch_root):
        if directory.exists():
            found.append(f"directory {directory}")
    return found


def test_down_leaves_nothing_behind(stack, e2e_spec, e2e_plan):
    assert _leftovers(e2e_plan) != []  # the check sees the running stack...
    provision.down(e2e_spec)
    assert _leftovers(e2e_plan) == []  # ...and nothing after down
    assert not saved_targets_file(e2e_spec.stack).exists()
