"""The one resource plan both backends read: every name, size, port and limit derived once."""

from __future__ import annotations

import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import pytest

from hostbench.errors import ConfigError
from hostbench.image.manifest import load_manifest
from hostbench.provision.domain_xml import domain_xml
from hostbench.provision.libvirt_backend import stack_domains
from hostbench.provision.plan import (
    NO_IMAGE,
    SSH_PORT,
    VmPlan,
    extra_container,
    extra_vm,
    neighbour_vm,
    resource_plan,
    targets_document,
)
from hostbench.stack.environments import DEFAULT_ENVIRONMENTS, Environment, Kind
from hostbench.stack.spec import StackSpec
from tests.unit.fakes import write_manifest

KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nk\n-----END OPENSSH PRIVATE KEY-----\n"
VARIANTS = (*DEFAULT_ENVIRONMENTS,
            Environment(name="vm-raw", kind=Kind.VM, variant_of="vm"),
            Environment(name="container-hostnet", kind=Kind.CONTAINER, variant_of="container"))


def _spec(environments=DEFAULT_ENVIRONMENTS) -> StackSpec:
    return StackSpec(stack="lab", cores=(2, 3), memory_mib=2048, disk_gib=10, accel="tcg",
                     ssh_port=2300, environments=environments)


def test_the_default_stack_keeps_its_names(tmp_path: Path, isolated_state: Path):
    plan = resource_plan(_spec(), load_manifest(write_manifest(tmp_path)))
    (vm,), (ctr,) = plan.vms, plan.containers
    assert (plan.prefix, plan.pool, plan.network.name) == ("hostbench-lab",) * 3
    assert (vm.domain, ctr.name) == ("hostbench-lab", "hostbench-lab")
    assert vm.root.name == "hostbench-lab-root.qcow2" and vm.root.backing == plan.base_disk.name
    assert vm.root.size_bytes == 10 * 1024**3 and vm.vcpus == 2 and vm.domain_type == "qemu"
    assert (ctr.cpuset, ctr.memory_mib, ctr.ssh_port) == ("2,3", 2048, 2300)
    assert ctr.scratch_dir == isolated_state / "stacks" / "lab" / "scratch" / "container"
    assert plan.network.gateway == "192.168.150.1" and plan.network.bridge == "hb-lab"
    assert plan.base_disk.source == str(tmp_path / "disk.qcow2")


def test_variants_get_their_own_names_ports_and_volumes_on_the_shared_network(tmp_path):
    plan = resource_plan(_spec(VARIANTS), load_manifest(write_manifest(tmp_path)))
    assert [v.domain for v in plan.vms] == ["hostbench-lab", "hostbench-lab-vm-raw"]
    assert len({v.root.name for v in plan.vms} | {v.seed for v in plan.vms}) == 4
    assert [(c.name, c.ssh_port) for c in plan.containers] == [
        ("hostbench-lab", 2300), ("hostbench-lab-container-hostnet", 2301)]
    assert len({c.scratch_dir for c in plan.containers}) == 2
    assert all(v.cores == (2, 3) and v.memory_mib == 2048 for v in plan.vms)  # matched


def test_the_targets_name_every_environment_with_how_to_reach_it(tmp_path):
    plan = resource_plan(_spec(VARIANTS), load_manifest(write_manifest(tmp_path)))
    targets = targets_document(plan, KEY, {"vm": "10.0.0.5", "vm-raw": "10.0.0.6"},
                               {"container": "172.17.0.1", "container-hostnet": "172.17.0.1"})
    assert [e.name for e in targets.environments] == [  # as the stack declares them
        "bare", "vm", "container", "vm-raw", "container-hostnet"]
    raw = targets.targets["vm-raw"]
    assert (raw.host, raw.domain, raw.variant_of, raw.accel) == ("10.0.0.6",
                                                                "hostbench-lab-vm-raw", "vm",
                                                                "tcg")
    assert targets.targets["container-hostnet"].port == 2301
    assert targets.targets["bare"].rootfs == str(tmp_path / "rootfs")
    # bare metal's scratch is the stack's, beside the containers', never in the image tree
    assert targets.targets["bare"].scratch == str(plan.scratch_root / "bare")


def test_a_stack_whose_image_is_gone_can_still_be_planned_for_removal():
    plan = resource_plan(_spec(), NO_IMAGE)
    assert plan.vms[0].domain == "hostbench-lab" and plan.containers[0].name == "hostbench-lab"


def test_extra_instances_keep_the_cores_and_options_with_their_own_names_and_memory(tmp_path):
    hostnet = Environment(name="container-hostnet", kind=Kind.CONTAINER, variant_of="container",
                          options={"network": "host"})
    plan = resource_plan(_spec((*VARIANTS[:3], hostnet)), load_manifest(write_manifest(tmp_path)))
    raw = plan.vms[1]
    extra = extra_vm(plan, raw, 3, 256)
    assert (extra.domain, extra.memory_mib, extra.cores, extra.vcpus) == (
        "hostbench-lab-vm-raw-x3", 256, (2, 3), 2)
    assert extra.env == raw.env and extra.xslt == raw.xslt
    assert extra.description.startswith("hostbench stack lab,")  # `fab down` finds it
    assert {extra.root.name, extra.seed}.isdisjoint({raw.root.name, raw.seed})
    hostnet = plan.containers[1]
    copy = extra_container(plan, hostnet, 2, 40123, 256)
    assert (copy.name, copy.ssh_port, copy.memory_mib, copy.cpuset) == (
        "hostbench-lab-container-hostnet-x2", 40123, 256, "2,3")
    assert copy.network_mode == "host" and "Port=40123" in copy.command
    assert copy.labels["hostbench.stack"] == "lab" and copy.scratch_dir is None


def test_a_neighbour_vm_has_the_neighbour_cores_its_own_names_and_the_stacks_marker(tmp_path):
    plan = resource_plan(_spec(VARIANTS), load_manifest(write_manifest(tmp_path)))
    raw = plan.vms[1]
    neighbour = neighbour_vm(plan, raw, (0,))
    assert (neighbour.domain, neighbour.vcpus, neighbour.cores, neighbour.memory_mib) == (
        "hostbench-lab-vm-raw-neighbour", 2, (0, 0), 2048)  # raw's 2 vCPUs, both on core 0
    assert neighbour.env == raw.env and neighbour.root.format == raw.root.format
    assert neighbour.description == "hostbench stack lab, neighbour of vm-raw"  # `fab down`
    assert {neighbour.root.name, neighbour.seed}.isdisjoint(
        {n for vm in plan.vms for n in (vm.root.name, vm.seed)})
    assert 'vcpu placement="static" cpuset="0"' in neighbour.xslt
    assert '<vcpupin vcpu="1" cpuset="0"/>' in neighbour.xslt
    assert '<emulatorpin cpuset="0"/>' in neighbour.xslt
    spread = neighbour_vm(plan, plan.vms[0], (0, 1, 4))
    assert spread.cores == (0, 1) and '<emulatorpin cpuset="0,1"/>' in spread.xslt


@dataclass
class Domain:
    """A libvirt domain as `fab down` looks at it: its name and XML."""

    vm: VmPlan

    def name(self) -> str:
        return self.vm.domain

    def XMLDesc(self, _flags: int) -> str:
        return domain_xml(self.vm, "pool", "net", "/k", "/i", "/seed.iso")


def test_fab_down_finds_a_neighbour_vm_a_killed_run_left_by_the_stacks_marker(tmp_path):
    manifest = load_manifest(write_manifest(tmp_path))
    plan = resource_plan(_spec(), manifest)
    other = resource_plan(_spec().model_copy(update={"stack": "other"}), manifest)
    left = [Domain(neighbour_vm(plan, plan.vms[0], (0,))),
            Domain(neighbour_vm(other, other.vms[0], (0,)))]
    conn = SimpleNamespace(listAllDomains=lambda _flags: left)
    assert [d.name() for d in stack_domains(conn, plan)] == ["hostbench-lab-neighbour"]


def test_a_manifest_hash_that_is_not_hex_never_reaches_a_path(tmp_path):
    path = write_manifest(tmp_path)
    path.write_text(path.read_text().replace('"' + "f" * 64 + '"', '"../../../../root"'))
    with pytest.raises(ConfigError) as info:
        load_manifest(path)
    assert str(path) in str(info.value) and "hash" in str(info.value)
    assert "../../../../root" in str(info.value)


def _everything_under(root: Path) -> list[Path]:
    return sorted(root.rglob("*"))


def test_planning_a_remote_stack_writes_nothing_and_reaches_no_host(tmp_path, monkeypatch):
    places = {name: tmp_path / name for name in ("home", "state", "tmp", "image")}
    for place in places.values():
        place.mkdir()
    manifest = load_manifest(write_manifest(places.pop("image")))
    monkeypatch.setenv("HOME", str(places["home"]))
    monkeypatch.setenv("HOSTBENCH_STATE_DIR", str(places["state"]))
    monkeypatch.setattr(tempfile, "tempdir", str(places["tmp"]))

    def no_contact(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"the plan reached out: {args}")

    for module, name in ((subprocess, "run"), (subprocess, "Popen"),
                         (socket, "create_connection")):
        monkeypatch.setattr(module, name, no_contact)
    spec = _spec(VARIANTS).model_copy(update={"host": "root@lab.example", "host_port": 2022,
                                              "host_dir": "/srv/hb"})
    plan = resource_plan(spec, manifest)
    assert [_everything_under(place) for place in places.values()] == [[], [], []]
    assert plan.host.remote and plan.libvirt_uri.startswith(
        "qemu+ssh://root@lab.example:2022/system?command=")
    assert plan.remote_layout is not None
    assert plan.rootfs == f"/srv/hb/images/{manifest.hash[:16]}/rootfs"
    assert plan.scratch_root == Path("/srv/hb/scratch/lab")
    assert plan.image_pool == f"hostbench-image-{manifest.hash[:12]}"


def test_a_local_stack_is_planned_on_this_machine_with_no_remote_layout(tmp_path):
    plan = resource_plan(_spec(), load_manifest(write_manifest(tmp_path)))
    assert not plan.host.remote and plan.remote_layout is None
    assert plan.libvirt_uri == "qemu:///system"


def test_ownership_markers_and_limits_come_from_the_plan(tmp_path):
    plan = resource_plan(_spec(), load_manifest(write_manifest(tmp_path)))
    (vm,), (ctr,) = plan.vms, plan.containers
    assert vm.description == "hostbench stack lab, environment vm"
    assert ctr.labels == {"hostbench.stack": "lab", "hostbench.env": "container"}
    assert plan.owner_label == "hostbench.stack=lab"
    assert ctr.memory_swap_mib == ctr.memory_mib  # no swap
    targets = targets_document(plan, KEY, {"vm": "10.0.0.5"}, {"container": "172.17.0.1"})
    assert (targets.targets["vm"].port, targets.targets["container"].host) == (
        SSH_PORT, "127.0.0.1")


NESTED = (*VARIANTS, Environment(name="container-in-vm", kind=Kind.VM, variant_of="vm",
                                 options={"workloads": "container"}))


def test_a_container_inside_a_vm_takes_the_next_port_after_the_outer_containers(tmp_path):
    plan = resource_plan(_spec(NESTED), load_manifest(write_manifest(tmp_path)))
    assert [(c.name, c.ssh_port) for c in plan.containers] == [  # unchanged by the nested one
        ("hostbench-lab", 2300), ("hostbench-lab-container-hostnet", 2301)]
    nested = plan.vms[-1]
    assert nested.domain == "hostbench-lab-container-in-vm" and plan.vms[0].nested is None
    assert nested.nested is not None
    # all the guest's vCPUs (numbered inside it) and the VM's memory
    assert (nested.nested.ssh_port, nested.nested.cpuset, nested.nested.memory_mib) == (
        2302, "0,1", 2048)
    assert nested.nested.declaration == "port=2302 cpuset=0,1 memory_mib=2048"
    targets = targets_document(plan, KEY, {"vm": "10.0.0.5", "vm-raw": "10.0.0.6",
                                           "container-in-vm": "10.0.0.7"},
                               {"container": "172.17.0.1", "container-hostnet": "172.17.0.1"})
    inside = targets.targets["container-in-vm"]
    assert (inside.kind, inside.host, inside.port, inside.nested_port) == (
        Kind.VM, "10.0.0.7", SSH_PORT, 2302)
    assert inside.host_address == plan.network.gateway  # its host servers: the VM's
    assert targets.targets["vm"].nested_port is None


def test_a_neighbour_or_extra_vm_of_a_nested_vm_runs_no_container_inside(tmp_path):
    plan = resource_plan(_spec(NESTED), load_manifest(write_manifest(tmp_path)))
    nested = plan.vms[-1]
    assert neighbour_vm(plan, nested, (0,)).nested is None
    assert extra_vm(plan, nested, 2, 512).nested is None
