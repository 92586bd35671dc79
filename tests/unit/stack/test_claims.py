"""Two stacks up on one host never share SSH ports or a VM network; they may share cores, and
then measure one at a time."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from hostbench.errors import HostbenchError
from hostbench.stack.claims import check_claims
from hostbench.stack.spec import spec_from_mapping
from hostbench.stack.targets import saved_targets_file
from tests.unit.fakes import fake_targets

HOST = {"host_cpus": {0, 1, 2}, "kvm_ok": False, "host_memory_mib": 8192, "host_disk_gib": 100}
FREE = {"cores": [0], "ssh_port": 3000, "network_cidr": "192.168.151.0/24"}
"""Nothing the stack that is up (cores [1], ports 2222, 192.168.150.0/24) holds."""


def _up(tmp_path: Path, stack: str = "other") -> Path:
    """Stack ``stack`` as `fab up` leaves it: its targets saved."""
    saved = saved_targets_file(stack)
    saved.parent.mkdir(parents=True)
    shutil.copy(fake_targets(tmp_path, stack=stack), saved)
    return saved


def _spec(**config):
    return spec_from_mapping("lab", {"memory_mib": 1024, **FREE, **config},
                             "stacks/Pulumi.lab.yaml", **HOST)


@pytest.mark.parametrize(("config", "claim"), [
    ({"ssh_port": 2221, "environments": [{"name": "c1", "kind": "container"},
                                          {"name": "c2", "kind": "container"}]},
     "SSH ports 2222"),
    ({"network_cidr": "192.168.150.128/25"}, "the VM network 192.168.150.128/25"),
])
def test_a_stack_claiming_what_a_stack_that_is_up_holds_is_refused_naming_both(
        tmp_path, config, claim):
    saved = _up(tmp_path)
    with pytest.raises(HostbenchError) as info:
        check_claims(_spec(**config))
    assert str(info.value) == (
        f"stack lab (stacks/Pulumi.lab.yaml) claims {claim}, which stack other holds (it is up: "
        f"{saved}); bring other down or change lab")


def test_stacks_that_share_nothing_but_cores_or_another_host_both_go_up(tmp_path):
    _up(tmp_path)
    check_claims(_spec())
    check_claims(_spec(cores=[2, 1]))  # core 1 too: they take turns to measure on it
    check_claims(_spec(cores=[1]).model_copy(update={"host": "root@lab1"}))
    check_claims(_spec(cores=[1]).model_copy(update={"stack": "other"}))  # itself, again
