"""The real Pulumi program under Pulumi's mocks; every input is checked against provider schemas."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from hostbench.errors import ConfigError
from hostbench.infra.schema import ProviderSchemas
from tests.conftest import SHARED_SCHEMAS
from tests.infra.pulumi_harness import VM_ADDRESS, run_program, write_manifest

DOMAIN = "libvirt:index/domain:Domain"
CONTAINER = "docker:index/container:Container"


@pytest.fixture(scope="module")
def schemas() -> ProviderSchemas:
    return ProviderSchemas([SHARED_SCHEMAS / "libvirt-schema.json",
                            SHARED_SCHEMAS / "docker-schema.json"])


@pytest.fixture
def config(tmp_path: Path) -> dict:
    return {"cores": [1], "memory_mib": 1024, "disk_gib": 8, "accel": "tcg", "ssh_port": 2222,
            "image_manifest": str(write_manifest(tmp_path))}


def test_every_registered_resource_matches_its_provider_schema(config, schemas):
    mocks, _ = run_program(config)
    tokens = {r.token for r in mocks.resources}
    assert {DOMAIN, CONTAINER, "libvirt:index/network:Network", "libvirt:index/volume:Volume",
            "libvirt:index/cloudInitDisk:CloudInitDisk", "libvirt:index/pool:Pool",
            "docker:index/remoteImage:RemoteImage", "pulumi:providers:libvirt"} <= tokens
    problems = [p for r in mocks.resources for p in schemas.validate(r.token, r.inputs)]
    assert problems == []


def test_vm_and_container_get_the_same_cores_and_memory(config):
    config.update(cores=[0, 1], memory_mib=1536)
    mocks, _ = run_program(config)
    (domain,) = mocks.by_token(DOMAIN)
    (container,) = mocks.by_token(CONTAINER)
    assert domain.inputs["vcpu"] == 2 == len(container.inputs["cpuSet"].split(","))
    assert container.inputs["cpuSet"] == "0,1"
    xslt = domain.inputs["xml"]["xslt"]
    assert '<vcpupin vcpu="0" cpuset="0"/>' in xslt and '<vcpupin vcpu="1" cpuset="1"/>' in xslt
    assert '<emulatorpin cpuset="0,1"/>' in xslt
    assert domain.inputs["memory"] == 1536 == container.inputs["memory"]
    assert container.inputs["memorySwap"] == container.inputs["memory"]


def test_container_ssh_is_published_on_loopback_only_with_the_stack_key(config):
    mocks, exports = run_program(config)
    (container,) = mocks.by_token(CONTAINER)
    assert container.inputs["ports"] == [{"internal": 22, "external": 2222, "ip": "127.0.0.1"}]
    (upload,) = container.inputs["uploads"]
    assert upload["file"] == "/root/.ssh/authorized_keys"
    assert upload["content"].startswith("ssh-ed25519 ")
    assert "OPENSSH PRIVATE KEY" in exports.values["ssh_private_key"]
    (scratch,) = container.inputs["volumes"]  # fio's scratch file lives on the host filesystem
    assert scratch["containerPath"] == "/scratch"
    assert scratch["hostPath"].endswith("/stacks/test/scratch")


def test_private_key_is_a_top_level_secret_and_a_0600_file(config, isolated_state):
    _, exports = run_program(config)
    assert exports.secret["ssh_private_key"] is True
    assert exports.secret["targets"] is False  # a nested secret would mask the whole object
    key_file = isolated_state / "stacks" / "test" / "id_ed25519"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert key_file.read_text() == exports.values["ssh_private_key"]


def test_the_key_is_created_once_per_stack(config):
    _, first = run_program(config)
    _, again = run_program(config)
    _, other = run_program(config, stack="other")
    assert first.values["ssh_private_key"] == again.values["ssh_private_key"]
    assert first.values["ssh_private_key"] != other.values["ssh_private_key"]


def test_outputs_follow_the_targets_contract(config):
    _, exports = run_program(config)
    targets = exports.values["targets"]
    assert set(targets) == {"bare", "vm", "container"}
    assert targets["vm"]["host"] == VM_ADDRESS and targets["vm"]["accel"] == "tcg"
    assert targets["container"] == {
        "kind": "container", "host": "127.0.0.1", "port": 2222, "user": "root",
        "container": "hostbench-test", "host_address": "172.17.0.1", "cores": [1],
        "memory_mib": 1024}
    assert targets["vm"]["host_address"] == "192.168.150.1"
    assert targets["bare"]["host_address"] == "127.0.0.1"
    assert targets["bare"]["cores"] == [1]
    assert exports.values["image"]["docker_tag"] == "hostbench:ffffffffffffffff"


def test_vm_boots_its_kernel_directly_with_a_console_and_waits_for_its_lease(config):
    mocks, _ = run_program(config)
    (domain,) = mocks.by_token(DOMAIN)
    assert domain.inputs["kernel"].endswith("-kernel-id")
    assert domain.inputs["initrd"].endswith("-initrd-id")
    assert {"root": "/dev/vda"} in domain.inputs["cmdlines"]
    assert {"_": "rw"} in domain.inputs["cmdlines"]
    assert domain.inputs["networkInterfaces"][0]["waitForLease"] is True
    assert domain.inputs["consoles"][0]["targetType"] == "serial"
    assert domain.inputs["cloudinit"].endswith("-seed-id")
    volumes = {v.name: v.inputs for v in mocks.by_token("libvirt:index/volume:Volume")}
    assert volumes["hostbench-test-root"]["baseVolumeId"] == "hostbench-test-base-id"
    assert volumes["hostbench-test-root"]["size"] == 8 * 1024**3


@pytest.mark.parametrize(("accel", "kvm_ok", "domain_type"), [
    ("tcg", True, "qemu"), ("kvm", True, "kvm"), ("auto", True, "kvm"), ("auto", False, "qemu"),
])
def test_domain_type_follows_accel_and_kvm_usability(config, monkeypatch, accel, kvm_ok,
                                                     domain_type):
    monkeypatch.setattr("hostbench.spec.kvm_usable", lambda: kvm_ok)
    config["accel"] = accel
    mocks, exports = run_program(config)
    (domain,) = mocks.by_token(DOMAIN)
    assert domain.inputs["type"] == domain_type
    assert exports.values["spec"]["accel"] == ("kvm" if domain_type == "kvm" else "tcg")
    assert ("cpu" in domain.inputs) == (domain_type == "kvm")


@pytest.mark.parametrize(("change", "field", "words"), [
    ({"memory_mib": 100}, "hostbench:memory_mib", "at least 256"),
    ({"memory_mib": "lots"}, "hostbench:memory_mib", "integer"),
    ({"cores": []}, "hostbench:cores", "non-empty list"),
    ({"cores": [99]}, "hostbench:cores", "do not exist"),
    ({"accel": "xen"}, "hostbench:accel", "one of auto, kvm, tcg"),
    ({"ssh_port": 22}, "hostbench:ssh_port", "at least 1024"),
    ({"memroy_mib": 512}, "hostbench:memroy_mib", "not a known field"),
    ({"image_manifest": "/nonexistent/manifest.json"}, "hostbench:image_manifest",
     "does not exist"),
])
def test_bad_config_is_rejected_naming_the_key(config, change, field, words):
    config.update(change)
    with pytest.raises(ConfigError) as err:
        run_program(config)
    assert f"stacks/Pulumi.test.yaml: {field}:" in str(err.value)
    assert words in str(err.value)


def test_kvm_requested_on_a_host_without_kvm_is_rejected(config, monkeypatch):
    monkeypatch.setattr("hostbench.spec.kvm_usable", lambda: False)
    config["accel"] = "kvm"
    with pytest.raises(ConfigError, match="hostbench:accel: is kvm but KVM is not usable"):
        run_program(config)
