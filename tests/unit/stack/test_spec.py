"""Stack config files: valid ones load, malformed ones name the file and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from hostbench.errors import ConfigError
from hostbench.stack.environments import Kind
from hostbench.stack.host import close_remote_hosts
from hostbench.stack.spec import load_stack_file, spec_from_mapping, stack_file

HOST = {"host_cpus": {0, 1}, "kvm_ok": False, "host_memory_mib": 8192, "host_disk_gib": 100}


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "Pulumi.t.yaml"
    path.write_text(text)
    return path


def test_the_shipped_default_stack_loads():
    spec = load_stack_file("local", **HOST)
    assert spec.cores == (1,) and spec.memory_mib == 1024 and spec.accel == "tcg"
    assert spec.cpuset == "1" and spec.stack == "local"
    assert stack_file("local").name == "Pulumi.local.yaml"
    assert [(e.name, e.kind, e.accel) for e in spec.all_environments] == [
        ("bare", Kind.BARE, None), ("vm", Kind.VM, "tcg"), ("container", Kind.CONTAINER, None)]


def test_auto_accel_picks_kvm_only_when_usable(tmp_path):
    path = _write(tmp_path, "config:\n  hostbench:cores: [0, 1]\n  hostbench:memory_mib: 512\n")
    assert load_stack_file("t", path, host_cpus={0, 1, 2}, kvm_ok=True).accel == "kvm"
    assert load_stack_file("t", path, host_cpus={0, 1, 2}, kvm_ok=False).accel == "tcg"


@pytest.mark.parametrize(("text", "field", "words"), [
    ("config: [1]\n", "config", "mapping"),
    ("config:\n  hostbench:cores: [1]\n", "hostbench:memory_mib", "required"),
    ("config:\n  hostbench:cores: [1]\n  hostbench:memory_mib: 512\n  other:x: 1\n",
     "config.other:x", "not a hostbench:* key"),
    ("config:\n  hostbench:cores: [1, 1]\n  hostbench:memory_mib: 512\n", "hostbench:cores",
     "twice"),
    ("config:\n  hostbench:cores: [1]\n  hostbench:memory_mib: 512\n"
     "  hostbench:network_cidr: 10.0.0.0/30\n", "hostbench:network_cidr", "at least 8"),
    ("config:\n  hostbench:cores: [1]\n  hostbench:memory_mib: 512\n"
     "  hostbench:network_cidr: nonsense\n", "hostbench:network_cidr", "not an IPv4 network"),
    ("config:\n  hostbench:cores: [1]\n  hostbench:memory_mib: 100\n", "hostbench:memory_mib",
     "greater than or equal to 256, got 100"),
    ("config:\n  hostbench:cores: [1]\n  hostbench:memory_mib: lots\n",
     "hostbench:memory_mib", "valid integer"),
    ("config:\n  hostbench:cores: [true]\n  hostbench:memory_mib: 512\n", "hostbench:cores[0]",
     "must be a number, not true"),
    ("config:\n  hostbench:cores: []\n  hostbench:memory_mib: 512\n", "hostbench:cores",
     "non-empty list"),
    ("config:\n  hostbench:cores: [7]\n  hostbench:memory_mib: 512\n", "hostbench:cores",
     "do not exist"),
    ("config:\n  hostbench:cores: [1]\n  hostbench:memory_mib: 512\n  hostbench:accel: xen\n",
     "hostbench:accel", "'auto', 'kvm' or 'tcg'"),
    ("config:\n  hostbench:cores: [1]\n  hostbench:memory_mib: 512\n  hostbench:memroy: 5\n",
     "hostbench:memroy", "not a known field (known: accel, cores"),
    ("config:\n  hostbench:cores: [0, 1]\n  hostbench:memory_mib: 512\n", "hostbench:cores",
     "every usable core of this host"),
    ("config:\n  hostbench:cores: [1]\n  hostbench:memory_mib: 9000\n", "hostbench:memory_mib",
     "more than this host's 8192 MiB"),
    ("config:\n  hostbench:cores: [1]\n  hostbench:memory_mib: 3000\n  hostbench:environments:\n"
     "    - {name: vm, kind: vm}\n    - {name: vm-raw, kind: vm, variant_of: vm}\n"
     "    - {name: vm-b, kind: vm, variant_of: vm}\n", "hostbench:memory_mib",
     "3 VMs x 3000 MiB is more than this host's 8192 MiB"),
    ("config:\n  hostbench:cores: [1]\n  hostbench:memory_mib: 512\n  hostbench:disk_gib: 500\n",
     "hostbench:disk_gib", "larger than the 100 GiB filesystem"),
    ("config:\n  hostbench:cores: [1]\n  hostbench:memory_mib: 512\n"
     "  hostbench:host: -oProxyCommand=x\n", "hostbench:host", "should match pattern"),
    ("config:\n  hostbench:cores: [1]\n  hostbench:memory_mib: 512\n"
     "  hostbench:host: 'lab1 rm'\n", "hostbench:host", "should match pattern"),
    ("config:\n  hostbench:cores: [1]\n  hostbench:memory_mib: 512\n  hostbench:host: lab1\n"
     "  hostbench:host_port: 0\n", "hostbench:host_port", "greater than or equal to 1"),
    ("config:\n  hostbench:cores: [1]\n  hostbench:memory_mib: 512\n  hostbench:host: lab1\n"
     "  hostbench:host_dir: var/hb\n", "hostbench:host_dir", "should match pattern"),
    ("config:\n  hostbench:cores: [1]\n  hostbench:memory_mib: 512\n  hostbench:host: lab1\n"
     "  hostbench:host_identity_file: /nonexistent/key\n", "hostbench:host_identity_file",
     "/nonexistent/key is not a file"),
    ("config: {hostbench:cores: [1]\n", "(file)", "not valid YAML"),
    ("- just\n- a list\n", "(top level)", "mapping"),
])
def test_malformed_stack_files_name_file_and_field(tmp_path, text, field, words):
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_stack_file("t", path, **HOST)
    assert err.value.source == str(path) and err.value.field == field
    assert words in err.value.problem


def test_a_missing_stack_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match=r"Pulumi.nope.yaml: \(file\): does not exist"):
        load_stack_file("nope", tmp_path / "Pulumi.nope.yaml", **HOST)


def _with_envs(tmp_path: Path, envs: str, accel: str = "auto") -> Path:
    return _write(tmp_path, "config:\n  hostbench:cores: [1]\n  hostbench:memory_mib: 512\n"
                            f"  hostbench:accel: {accel}\n  hostbench:environments:\n{envs}")


def test_the_shipped_factors_stack_declares_one_factor_per_variant():
    spec = load_stack_file("factors", **HOST)
    changed = {e.name: (e.variant_of, e.changed_options()) for e in spec.environments}
    assert changed == {
        "vm": (None, {}), "vm-raw": ("vm", {"disk": "raw", "io": "native"}),
        "container": (None, {}), "container-hostnet": ("container", {"network": "host"}),
        "container-unconfined": ("container", {"seccomp": "unconfined"}),
        "container-overlay": ("container", {"storage": "overlay"}),
        "gvisor": ("container", {"runtime": "runsc"})}
    assert all(e.accel == "tcg" for e in spec.all_environments if e.kind is Kind.VM)


def test_environments_may_come_as_json_text_from_pulumi(tmp_path):
    path = _write(tmp_path, "config:\n  hostbench:cores: [1]\n  hostbench:memory_mib: 512\n"
                            "  hostbench:environments: '[{\"name\": \"c2\", "
                            "\"kind\": \"container\", \"options\": {\"runtime\": \"runsc\"}}]'\n")
    (env,) = load_stack_file("t", path, **HOST).environments
    assert (env.name, env.container.runtime) == ("c2", "runsc")


@pytest.mark.parametrize(("envs", "field", "words"), [
    ("    - {name: c, kind: container, options: {runtime: crun}}\n",
     "hostbench:environments[0].options.runtime", "'runc' or 'runsc', got 'crun'"),
    ("    - {name: c, kind: container, options: {colour: red}}\n",
     "hostbench:environments[0].options.colour", "not a known field (known: network, runtime"),
    ("    - {name: v, kind: vm, options: {runtime: runsc}}\n",
     "hostbench:environments[0].options.runtime", "not a known field (known: cache, cpu_model"),
    ("    - {name: c, kind: container}\n    - {name: c, kind: container}\n",
     "hostbench:environments[1].name", "declared twice"),
    ("    - {name: bare, kind: container}\n", "hostbench:environments[0].name", "bare metal"),
    ("    - {name: c, kind: container, variant_of: vm}\n",
     "hostbench:environments[0].variant_of", "not another environment of the stack"),
    ("    - {name: v, kind: vm}\n    - {name: c, kind: container, variant_of: v}\n",
     "hostbench:environments[1].variant_of", "a variant varies its own kind"),
    ("    - {name: c, kind: lxc}\n", "hostbench:environments[0].kind", "'vm' or 'container'"),
    ("    - {name: Big_Name, kind: container}\n", "hostbench:environments[0].name", "pattern"),
    ("    - {name: v, kind: vm, options: {io: native, cache: writeback}}\n",
     "hostbench:environments[0].options", "needs cache 'none' or 'directsync'"),
    ("    - {name: v, kind: vm, options: {cpu_model: host-passthrough}}\n",
     "hostbench:environments[0].options.cpu_model", "only under KVM"),
    ("    []\n", "hostbench:environments", "lists no environment"),
])
def test_malformed_environments_name_file_and_key(tmp_path, envs, field, words):
    path = _with_envs(tmp_path, envs)
    with pytest.raises(ConfigError) as err:
        load_stack_file("t", path, **HOST)
    assert err.value.source == str(path) and err.value.field == field, str(err.value)
    assert words in err.value.problem


def test_a_kvm_only_option_is_fine_where_kvm_is_usable(tmp_path):
    path = _with_envs(tmp_path,
                      "    - {name: v, kind: vm, options: {cpu_model: host-passthrough}}\n")
    (env,) = load_stack_file("t", path, host_cpus={0, 1}, kvm_ok=True).environments
    assert (env.vm.cpu_model, env.accel) == ("host-passthrough", None)


def test_a_stack_name_whose_bridge_name_would_be_cut_is_refused(tmp_path):
    path = _write(tmp_path, "config:\n  hostbench:cores: [1]\n  hostbench:memory_mib: 512\n")
    assert load_stack_file("twelve-chars", path, **HOST).stack == "twelve-chars"
    with pytest.raises(ConfigError) as err:
        load_stack_file("thirteen-char", path, **HOST)
    assert err.value.field == "(stack name)" and "hb-thirteen-char" in err.value.problem


def test_the_tcg_translation_cache_is_an_option_under_tcg_only(tmp_path):
    path = _with_envs(tmp_path, "    - {name: v, kind: vm, options: {tcg_cache_mib: 64}}\n")
    (env,) = load_stack_file("t", path, **HOST).environments
    assert env.vm.tcg_cache_mib == 64
    with pytest.raises(ConfigError) as err:
        load_stack_file("t", path, host_cpus={0, 1}, kvm_ok=True)
    assert err.value.field == "hostbench:environments[0].options.tcg_cache_mib"
    assert "only under TCG" in err.value.problem


def test_a_remote_stack_is_checked_against_its_host_read_over_ssh(tmp_path, fresh_sshd):
    sshd = fresh_sshd
    common = (f"config:\n  hostbench:memory_mib: 512\n  hostbench:host: {sshd.destination}\n"
              f"  hostbench:host_port: {sshd.port}\n"
              f"  hostbench:host_identity_file: {sshd.client_key}\n")
    spec = load_stack_file("t", _write(tmp_path, common + "  hostbench:cores: [1]\n"))
    assert spec.machine.remote and spec.machine.label == f"{sshd.destination}:{sshd.port}"
    with pytest.raises(ConfigError) as err:
        load_stack_file("t", _write(tmp_path, common + "  hostbench:cores: [64]\n"))
    assert err.value.field == "hostbench:cores"
    assert f"do not exist or are not usable on host {sshd.destination}" in err.value.problem
    close_remote_hosts()  # its connection would outlive the listener
    sshd.stop()
    with pytest.raises(ConfigError) as err:
        load_stack_file("u", _write(tmp_path, common + "  hostbench:cores: [1]\n"))
    assert err.value.field == "hostbench:host" and "cannot reach host" in err.value.problem


def test_container_ports_beyond_65535_are_refused():
    two = [{"name": "c1", "kind": "container"}, {"name": "c2", "kind": "container"}]
    base = {"cores": [1], "memory_mib": 1024, "ssh_port": 65535}
    assert spec_from_mapping("lab", base, "stacks/Pulumi.lab.yaml", **HOST).ssh_port == 65535
    with pytest.raises(ConfigError) as info:
        spec_from_mapping("lab", {**base, "environments": two}, "stacks/Pulumi.lab.yaml", **HOST)
    assert str(info.value) == (
        "stacks/Pulumi.lab.yaml: hostbench:ssh_port: 65535 + 2 containers needs ports up to "
        "65536, beyond 65535")


def test_a_container_inside_a_vm_takes_a_port_too():
    nested = [{"name": "vm", "kind": "vm", "options": {"workloads": "container"}},
              {"name": "c1", "kind": "container"}]
    base = {"cores": [1], "memory_mib": 1024, "ssh_port": 65535}
    with pytest.raises(ConfigError) as info:
        spec_from_mapping("lab", {**base, "environments": nested}, "stacks/Pulumi.lab.yaml",
                          **HOST)
    assert info.value.problem == "65535 + 2 containers needs ports up to 65536, beyond 65535"
    spec = spec_from_mapping("lab", {**base, "ssh_port": 65534, "environments": nested},
                             "stacks/Pulumi.lab.yaml", **HOST)
    assert [e.nested for e in spec.environments] == [True, False]
