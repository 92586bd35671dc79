"""The real Pulumi program under Pulumi's mocks; every input is checked against provider schemas."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import pytest

from hostbench.errors import ConfigError
from hostbench.image.manifest import load_manifest
from hostbench.provision.plan import resource_plan
from hostbench.stack.spec import spec_from_mapping
from hostbench.stack.targets import load_targets_file
from tests.conftest import SHARED_SCHEMAS
from tests.infra.provider_schemas import ProviderSchemas
from tests.unit.fakes import write_manifest

if TYPE_CHECKING:
    from tests.infra.pulumi_harness import Exports, RecordingMocks

DOMAIN = "libvirt:index/domain:Domain"
CONTAINER = "docker:index/container:Container"
VOLUME = "libvirt:index/volume:Volume"


def run_program(config: dict, stack: str = "test") -> tuple[RecordingMocks, Exports]:
    """The program run under mocks; the harness is imported here, on first use, because it
    imports Pulumi, which every test worker would otherwise load while collecting."""
    from tests.infra.pulumi_harness import run_program as run

    return run(config, stack)


@pytest.fixture(scope="module")
def schemas() -> ProviderSchemas:
    return ProviderSchemas([SHARED_SCHEMAS / "libvirt-schema.json",
                            SHARED_SCHEMAS / "docker-schema.json"])


def _config(directory: Path, **changes: object) -> dict:
    return {"cores": [1], "memory_mib": 1024, "disk_gib": 8, "accel": "tcg", "ssh_port": 2222,
            "network_cidr": "10.213.7.0/24",  # no shipped stack's, no route of a test host
            "image_manifest": str(write_manifest(directory)), **changes}


@pytest.fixture
def config(tmp_path: Path) -> dict:
    return _config(tmp_path)


class Declared(NamedTuple):
    """What one run of the program declared and exported, and its state directory."""

    mocks: RecordingMocks
    exports: Exports
    state: Path


def _declare(directory: Path, **changes: object) -> Declared:
    """The program run once with the default config changed by ``changes``, its state in
    ``directory``: for the tests that only read what it declared."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("HOSTBENCH_STATE_DIR", str(directory / "state"))
        mocks, exports = run_program(_config(directory, **changes))
    return Declared(mocks, exports, directory / "state")


@pytest.fixture(scope="module")
def declared(tmp_path_factory: pytest.TempPathFactory) -> Declared:
    return _declare(tmp_path_factory.mktemp("declared"))


def test_every_registered_resource_matches_its_provider_schema(declared, schemas):
    mocks = declared.mocks
    tokens = {r.token for r in mocks.resources if r.custom}
    assert {DOMAIN, CONTAINER, "libvirt:index/network:Network", VOLUME,
            "libvirt:index/cloudInitDisk:CloudInitDisk", "libvirt:index/pool:Pool",
            "docker:index/remoteImage:RemoteImage", "pulumi:providers:libvirt"} == tokens
    problems = [p for r in mocks.resources if r.custom for p in schemas.validate(r.token, r.inputs)]
    assert problems == []


def test_each_environment_is_one_component_and_the_shared_parts_another(declared):
    mocks = declared.mocks
    components = {(r.token, r.name) for r in mocks.resources if not r.custom}
    assert components == {("hostbench:env:Vm", "hostbench-test"),
                          ("hostbench:env:Container", "hostbench-test"),
                          ("hostbench:libvirt:Shared", "hostbench-test-libvirt")}
    parent = {r.token: r.parents for r in mocks.resources if r.custom and r.token != VOLUME}
    assert parent[DOMAIN] == ["hostbench:env:Vm"]
    assert parent["libvirt:index/cloudInitDisk:CloudInitDisk"] == ["hostbench:env:Vm"]
    assert parent[CONTAINER] == parent["docker:index/remoteImage:RemoteImage"] == [
        "hostbench:env:Container"]
    for token in ("libvirt:index/network:Network", "libvirt:index/pool:Pool",
                  "pulumi:providers:libvirt"):
        assert parent[token] == ["hostbench:libvirt:Shared"]
    volumes = {r.name: r.parents for r in mocks.by_token(VOLUME)}
    assert volumes == {"hostbench-test-base": ["hostbench:libvirt:Shared"],
                       "hostbench-test-kernel": ["hostbench:libvirt:Shared"],
                       "hostbench-test-initrd": ["hostbench:libvirt:Shared"],
                       "hostbench-test-root": ["hostbench:env:Vm"]}


@pytest.fixture
def four_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    """A host with four usable cores, so that a stack may pin two and leave two free."""
    monkeypatch.setattr("os.sched_getaffinity", lambda _pid: {0, 1, 2, 3})


def test_names_sizes_and_ports_come_from_the_one_resource_plan(config, tmp_path, four_cores):
    config.update(cores=[0, 1], memory_mib=1536, disk_gib=12, ssh_port=2300)
    mocks, _ = run_program(config)
    spec = spec_from_mapping("test", config, "test", host_cpus={0, 1, 2, 3}, kvm_ok=False)
    plan = resource_plan(spec, load_manifest(Path(config["image_manifest"])))
    (vm,), (ctr,) = plan.vms, plan.containers
    (domain,) = mocks.by_token(DOMAIN)
    (container,) = mocks.by_token(CONTAINER)
    volumes = {r.inputs["name"]: r.inputs for r in mocks.by_token(VOLUME)}
    assert (domain.inputs["name"], domain.inputs["type"]) == (vm.domain, vm.domain_type)
    assert domain.inputs["description"] == vm.description
    assert domain.inputs["xml"]["xslt"] == vm.xslt
    assert volumes[vm.root.name]["size"] == vm.root.size_bytes == 12 * 1024**3
    assert set(volumes) == {vm.root.name, plan.base_disk.name, plan.kernel.name,
                            plan.initrd.name}
    assert container.inputs["name"] == ctr.name and container.inputs["cpuSet"] == ctr.cpuset
    assert container.inputs["ports"][0]["external"] == ctr.ssh_port == 2300
    assert {lb["label"]: lb["value"] for lb in container.inputs["labels"]} == ctr.labels
    (net,) = mocks.by_token("libvirt:index/network:Network")
    assert (net.inputs["name"], net.inputs["bridge"]) == (plan.network.name, plan.network.bridge)


def test_vm_and_container_get_the_same_cores_and_memory(config, four_cores):
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


def test_container_ssh_is_published_on_loopback_only_with_the_stack_key(declared):
    mocks, exports, _ = declared
    (container,) = mocks.by_token(CONTAINER)
    assert container.inputs["ports"] == [{"internal": 22, "external": 2222, "ip": "127.0.0.1"}]
    # back with the engine after a restart, as the direct backend's (a run can be resumed)
    assert container.inputs["restart"] == "unless-stopped" and container.inputs["mustRun"]
    (upload,) = container.inputs["uploads"]
    assert upload["file"] == "/root/.ssh/authorized_keys"
    assert upload["content"].startswith("ssh-ed25519 ")
    assert "OPENSSH PRIVATE KEY" in exports.values["ssh_private_key"]
    (scratch,) = container.inputs["volumes"]  # fio's scratch file lives on the host filesystem
    assert scratch["containerPath"] == "/scratch"
    assert scratch["hostPath"].endswith("/stacks/test/scratch/container")


def test_private_key_is_a_top_level_secret_and_a_0600_file(declared):
    _, exports, state = declared
    assert exports.secret["ssh_private_key"] is True
    assert exports.secret["targets"] is False  # a nested secret would mask the whole object
    key_file = state / "stacks" / "test" / "id_ed25519"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert key_file.read_text() == exports.values["ssh_private_key"]


def test_the_key_is_created_once_per_stack(declared, monkeypatch):
    first = declared.exports
    monkeypatch.setenv("HOSTBENCH_STATE_DIR", str(declared.state))
    config = _config(declared.state.parent)
    _, again = run_program(config)
    _, other = run_program(config, stack="other")
    assert first.values["ssh_private_key"] == again.values["ssh_private_key"]
    assert first.values["ssh_private_key"] != other.values["ssh_private_key"]


def test_outputs_follow_the_targets_contract(declared, tmp_path):
    from tests.infra.pulumi_harness import VM_ADDRESS

    exports = declared.exports
    targets = exports.values["targets"]
    assert set(targets) == {"bare", "vm", "container"}
    assert targets["vm"]["host"] == VM_ADDRESS and targets["vm"]["accel"] == "tcg"
    assert targets["container"] == {
        "name": "container", "kind": "container", "host": "127.0.0.1", "port": 2222,
        "user": "root", "container": "hostbench-test", "host_address": "172.17.0.1",
        "cores": [1], "memory_mib": 1024, "options": {
            "runtime": "runc", "network": "bridge", "seccomp": "default", "storage": "volume"}}
    assert targets["vm"]["host_address"] == "10.213.7.1"
    assert targets["bare"]["host_address"] == "127.0.0.1"
    assert targets["bare"]["cores"] == [1]
    assert exports.values["image"]["docker_tag"] == "hostbench:ffffffffffffffff"
    # `pulumi stack output --json --show-secrets` of this program is a valid targets file
    path = tmp_path / "targets.json"
    path.write_text(json.dumps(exports.values))
    assert [e.label for e in load_targets_file(path).environments] == [
        "bare", "vm (TCG emulation)", "container"]


def test_vm_boots_its_kernel_directly_with_a_console_and_waits_for_its_lease(declared):
    mocks = declared.mocks
    (domain,) = mocks.by_token(DOMAIN)
    assert domain.inputs["kernel"].endswith("-kernel-id")
    assert domain.inputs["initrd"].endswith("-initrd-id")
    assert {"root": "/dev/vda"} in domain.inputs["cmdlines"]
    assert {"_": "rw"} in domain.inputs["cmdlines"]
    assert domain.inputs["networkInterfaces"][0]["waitForLease"] is True
    assert domain.inputs["consoles"][0]["targetType"] == "serial"
    assert domain.inputs["cloudinit"].endswith("-seed-id")
    volumes = {v.name: v.inputs for v in mocks.by_token(VOLUME)}
    assert volumes["hostbench-test-root"]["baseVolumeId"] == "hostbench-test-base-id"
    assert volumes["hostbench-test-root"]["size"] == 8 * 1024**3


@pytest.mark.parametrize(("accel", "kvm_ok", "domain_type"), [
    ("tcg", True, "qemu"), ("kvm", True, "kvm"), ("auto", True, "kvm"), ("auto", False, "qemu"),
])
def test_domain_type_follows_accel_and_kvm_usability(config, monkeypatch, accel, kvm_ok,
                                                     domain_type):
    monkeypatch.setattr("hostbench.stack.host.kvm_usable", lambda: kvm_ok)
    config["accel"] = accel
    mocks, exports = run_program(config)
    (domain,) = mocks.by_token(DOMAIN)
    assert domain.inputs["type"] == domain_type
    assert exports.values["spec"]["accel"] == ("kvm" if domain_type == "kvm" else "tcg")
    assert ("cpu" in domain.inputs) == (domain_type == "kvm")


@pytest.mark.parametrize(("change", "field", "words"), [
    ({"memory_mib": 100}, "hostbench:memory_mib", "greater than or equal to 256"),
    ({"memory_mib": "lots"}, "hostbench:memory_mib", "valid integer"),
    ({"cores": []}, "hostbench:cores", "non-empty list"),
    ({"cores": [99]}, "hostbench:cores", "do not exist"),
    ({"network_cidr": "192.168.150.0/25"}, "hostbench:network_cidr",
     # (the host's route to it is named first while the local stack is up)
     "stack local's network 192.168.150.0/24"),
    ({"accel": "xen"}, "hostbench:accel", "'auto', 'kvm' or 'tcg'"),
    ({"ssh_port": 22}, "hostbench:ssh_port", "greater than or equal to 1024"),
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
    monkeypatch.setattr("hostbench.stack.host.kvm_usable", lambda: False)
    config["accel"] = "kvm"
    with pytest.raises(ConfigError, match="hostbench:accel: is kvm but KVM is not usable"):
        run_program(config)


FACTORS = [
    {"name": "vm", "kind": "vm"},
    {"name": "vm-raw", "kind": "vm", "variant_of": "vm",
     "options": {"disk": "raw", "cache": "none", "io": "native"}},
    {"name": "container", "kind": "container"},
    {"name": "container-hostnet", "kind": "container", "variant_of": "container",
     "options": {"network": "host"}},
    {"name": "container-unconfined", "kind": "container", "variant_of": "container",
     "options": {"seccomp": "unconfined"}},
    {"name": "container-overlay", "kind": "container", "variant_of": "container",
     "options": {"storage": "overlay"}},
    {"name": "gvisor", "kind": "container", "variant_of": "container",
     "options": {"runtime": "runsc"}},
]


@pytest.fixture(scope="module")
def factors(tmp_path_factory: pytest.TempPathFactory) -> Declared:
    return _declare(tmp_path_factory.mktemp("factors"), environments=FACTORS)


def test_every_variant_matches_its_provider_schema(factors, schemas):
    problems = [p for r in factors.mocks.resources if r.custom
                for p in schemas.validate(r.token, r.inputs)]
    assert problems == []


def test_every_variant_is_its_own_component(factors):
    mocks, exports, _ = factors
    components = sorted((r.token, r.name) for r in mocks.resources if not r.custom)
    assert [n for t, n in components if t == "hostbench:env:Vm"] == [
        "hostbench-test", "hostbench-test-vm-raw"]
    assert len([t for t, _ in components if t == "hostbench:env:Container"]) == 5
    assert set(exports.values["targets"]) == {"bare", *(e["name"] for e in FACTORS)}
    assert exports.values["targets"]["gvisor"]["variant_of"] == "container"


def test_container_variants_declare_their_factor(factors):
    mocks, exports, _ = factors
    containers = {r.inputs["name"].removeprefix("hostbench-test").lstrip("-") or "container":
                  r.inputs for r in mocks.by_token(CONTAINER)}
    assert containers["gvisor"]["runtime"] == "runsc"
    assert containers["container"]["runtime"] == "runc"
    assert containers["container-unconfined"]["securityOpts"] == ["seccomp=unconfined"]
    assert "securityOpts" not in containers["container"]
    hostnet = containers["container-hostnet"]
    assert hostnet["networkMode"] == "host" and "ports" not in hostnet
    assert hostnet["command"] == ["/usr/local/sbin/hostbench-container-init", "-o",
                                  "ListenAddress=127.0.0.1", "-o", "Port=2223"]
    assert containers["container"]["networkMode"] == "bridge"
    assert "volumes" not in containers["container-overlay"]
    assert containers["container"]["volumes"][0]["containerPath"] == "/scratch"
    targets = exports.values["targets"]
    assert targets["container-hostnet"]["host_address"] == "127.0.0.1"
    assert targets["container-hostnet"]["port"] == 2223
    assert targets["gvisor"]["host_address"] == "172.17.0.1"


def test_the_raw_vm_gets_a_raw_copy_with_its_cache_and_io_modes(factors):
    mocks = factors.mocks
    volumes = {r.inputs["name"]: r.inputs for r in mocks.by_token(VOLUME)}
    raw = volumes["hostbench-test-vm-raw-root.raw"]
    assert raw["format"] == "raw" and raw["source"].endswith("/disk.raw")
    assert "baseVolumeId" not in raw
    assert volumes["hostbench-test-root.qcow2"]["baseVolumeId"] == "hostbench-test-base-id"
    xslt = {d.inputs["name"]: d.inputs["xml"]["xslt"] for d in mocks.by_token(DOMAIN)}
    assert '<xsl:attribute name="cache">none</xsl:attribute>' in xslt["hostbench-test-vm-raw"]
    assert '<xsl:attribute name="io">native</xsl:attribute>' in xslt["hostbench-test-vm-raw"]
    # the default VM: the host's page cache stays out of its disk I/O too, QEMU's I/O mode
    assert '<xsl:attribute name="cache">none</xsl:attribute>' in xslt["hostbench-test"]
    assert "native" not in xslt["hostbench-test"]


def test_a_remote_host_is_reached_by_both_providers_over_ssh(config, schemas, sshd):
    """libvirt at qemu+ssh:// (the provider's own client: key and pinned host keys in the URI),
    Docker at ssh:// with the stack's OpenSSH config; volumes uploaded from this machine's
    files, the container's scratch directory on the host."""
    config.update(host=sshd.destination, host_port=sshd.port,
                  host_identity_file=str(sshd.client_key), host_dir="/srv/hb")
    mocks, exports = run_program(config)
    problems = [p for r in mocks.resources if r.custom for p in schemas.validate(r.token, r.inputs)]
    assert problems == []
    (libvirt_provider,) = mocks.by_token("pulumi:providers:libvirt")
    uri = libvirt_provider.inputs["uri"]
    assert uri.startswith(f"qemu+ssh://root@127.0.0.1:{sshd.port}/system?")
    assert f"keyfile={str(sshd.client_key).replace('/', '%2F')}" in uri
    assert "known_hosts=" in uri
    (docker_provider,) = mocks.by_token("pulumi:providers:docker")
    assert docker_provider.inputs["host"] == f"ssh://root@127.0.0.1:{sshd.port}"
    options = json.loads(docker_provider.inputs["sshOpts"])
    config_file = Path(options[1])
    assert options[0] == "-F" and config_file.is_file()
    assert "StrictHostKeyChecking accept-new" in config_file.read_text()
    for token in (CONTAINER, "docker:index/remoteImage:RemoteImage"):
        (resource,) = mocks.by_token(token)
        assert "pulumi:providers:docker::docker" in resource.provider
    manifest = load_manifest(Path(config["image_manifest"]))
    sources = {v.inputs["name"]: v.inputs.get("source") for v in mocks.by_token(VOLUME)}
    assert sources["hostbench-test-base.qcow2"] == manifest.disk
    assert sources["hostbench-test-vmlinuz"] == manifest.kernel
    (container,) = mocks.by_token(CONTAINER)
    assert container.inputs["volumes"][0]["hostPath"] == "/srv/hb/scratch/test/container"
    bare = exports.values["targets"]["bare"]
    assert bare["rootfs"] == f"/srv/hb/images/{manifest.hash[:16]}/rootfs"
    assert exports.values["spec"]["host"] == sshd.destination


NESTED = [{"name": "vm", "kind": "vm"}, {"name": "container", "kind": "container"},
          {"name": "container-in-vm", "kind": "vm", "variant_of": "vm",
           "options": {"workloads": "container"}}]


def test_a_container_inside_a_vm_is_declared_by_its_seed_and_reached_through_the_guest(
        tmp_path, schemas):
    from tests.infra.pulumi_harness import VM_ADDRESS

    mocks, exports, _ = _declare(tmp_path, environments=NESTED)
    assert [p for r in mocks.resources if r.custom
            for p in schemas.validate(r.token, r.inputs)] == []
    seeds = {r.inputs["name"]: r.inputs["userData"]
             for r in mocks.by_token("libvirt:index/cloudInitDisk:CloudInitDisk")}
    # the guest's hostbench-seed reads this line as data and starts the container at boot
    assert ('hostbench_container: "port=2223 cpuset=0 memory_mib=1024"\n'
            in seeds["hostbench-test-container-in-vm-seed.iso"])
    assert "hostbench_container" not in seeds["hostbench-test-seed.iso"]
    assert len(mocks.by_token(CONTAINER)) == 1  # the one inside is the guest's, not the host's
    targets = exports.values["targets"]
    inside = targets["container-in-vm"]
    assert (inside["host"], inside["port"], inside["nested_port"]) == (VM_ADDRESS, 22, 2223)
    assert "nested_port" not in targets["vm"]
    path = tmp_path / "targets.json"
    path.write_text(json.dumps(exports.values))
    assert load_targets_file(path).targets["container-in-vm"].environment.nested
