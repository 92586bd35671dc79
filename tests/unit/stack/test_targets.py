"""Targets documents: the Pulumi output shape is accepted, mistakes name file and field."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from hostbench.errors import ConfigError, HostbenchError
from hostbench.paths import PROJECT_ROOT
from hostbench.reach.executors import ChrootExecutor, SSHExecutor, executor_for
from hostbench.reach.ssh import StackAccess
from hostbench.stack.environments import Kind
from hostbench.stack.targets import load_targets_file, resolve_targets, saved_targets_file

KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n-----END OPENSSH PRIVATE KEY-----\n"


def document() -> dict:
    common = {"cores": [1], "memory_mib": 1024}
    return {
        "stack": "local", "spec": {"cores": [1], "memory_mib": 1024, "accel": "tcg"},
        "image": {"hash": "h", "docker_tag": "hostbench:h", "manifest": "/m"},
        "ssh_private_key": KEY,
        "targets": {
            "bare": {"kind": "bare", "rootfs": "/r", "host_address": "127.0.0.1", **common},
            "vm": {"kind": "vm", "host": "192.168.150.5", "port": 22, "user": "root",
                   "domain": "d", "accel": "tcg", "host_address": "192.168.150.1", **common},
            "container": {"kind": "container", "host": "127.0.0.1", "port": 2222, "user": "root",
                          "container": "c", "host_address": "172.17.0.1", **common},
        },
    }


def write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "targets.json"
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


def test_a_pulumi_shaped_document_loads(tmp_path):
    targets = load_targets_file(write(tmp_path, document()))
    assert set(targets.targets) == {"bare", "vm", "container"}
    assert targets.targets["container"].port == 2222 and targets.targets["bare"].cpuset == "1"
    assert [(e.name, e.kind, e.label) for e in targets.environments] == [
        ("bare", Kind.BARE, "bare"), ("vm", Kind.VM, "vm (TCG emulation)"),
        ("container", Kind.CONTAINER, "container")]
    access = StackAccess(targets.ssh_private_key, tmp_path / "known_hosts")
    assert isinstance(executor_for(targets.targets["bare"], access), ChrootExecutor)
    assert isinstance(executor_for(targets.targets["vm"], access), SSHExecutor)


def test_environments_follow_the_stack_not_the_json_key_order(tmp_path):
    data = document()
    data["targets"] = dict(sorted(data["targets"].items()))  # as `pulumi stack output` sorts
    data["targets"]["container-2"] = {**data["targets"]["container"], "port": 2223}
    data["spec"]["environments"] = [{"name": "vm", "kind": "vm"},
                                    {"name": "container-2", "kind": "container"},
                                    {"name": "container", "kind": "container"}]
    names = [e.name for e in load_targets_file(write(tmp_path, data)).environments]
    assert names == ["bare", "vm", "container-2", "container"]


def test_what_fab_up_saved_reads_back_the_same(tmp_path):
    targets = load_targets_file(write(tmp_path, document()))
    again = load_targets_file(write(tmp_path, targets.to_json()))
    assert again.model_dump() == targets.model_dump()
    assert "source" not in json.loads(targets.to_json())  # where it was read from is not data


@pytest.mark.parametrize(("change", "field", "words"), [
    (lambda d: d["targets"]["vm"].pop("host"), "targets.vm", "a vm target needs 'host'"),
    (lambda d: d["targets"]["vm"].update(port=0), "targets.vm.port", "greater than or equal to 1"),
    (lambda d: d["targets"]["vm"].update(accel="xen"), "targets.vm.accel", "'kvm' or 'tcg'"),
    (lambda d: d["targets"]["container"].update(cores=[]), "targets.container.cores",
     "non-empty"),
    (lambda d: d["targets"]["container"].update(cores=[True]), "targets.container.cores[0]",
     "not true"),
    (lambda d: d["targets"].update(vmm={}), "targets.vmm.kind", "required"),
    (lambda d: d["targets"]["vm"].update(colour=1), "targets.vm.colour", "not a known field"),
    (lambda d: d.update(ssh_private_key="[secret]"), "ssh_private_key", "--show-secrets"),
    (lambda d: d["targets"]["container"].update(host_address="gateway; rm -rf /"),
     "targets.container.host_address", "an IPv4 address"),
    (lambda d: d["targets"]["vm"].update(host_address="::1"), "targets.vm.host_address",
     "an IPv4 address"),
    (lambda d: d.update(spec=[1]), "spec", "valid dictionary"),
    (lambda d: d.update(image="hostbench:h"), "image", "valid dictionary"),
    (lambda d: d["targets"]["bare"].update(cores=[-1]), "targets.bare.cores[0]",
     "greater than or equal to 0"),
    (lambda d: d.update(targets={}), "targets", "at least 1 item"),
    (lambda d: d.update(spec="lots"), "spec", "valid dictionary"),
])
def test_mistakes_name_the_file_and_field(tmp_path, change, field, words):
    data = document()
    change(data)
    path = write(tmp_path, data)
    with pytest.raises(ConfigError) as err:
        load_targets_file(path)
    assert err.value.source == str(path) and err.value.field == field
    assert words in err.value.problem


def test_not_json_is_named(tmp_path):
    with pytest.raises(ConfigError, match="is not valid JSON"):
        load_targets_file(write(tmp_path, "{nope"))


def test_resolution_prefers_the_file_then_fab_up_then_pulumi(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))  # no pulumi CLI
    with pytest.raises(HostbenchError, match="run `fab up` or pass --targets-file"):
        resolve_targets("local", None)
    saved = saved_targets_file("local")
    saved.parent.mkdir(parents=True)
    saved.write_text(json.dumps(document()))
    assert resolve_targets("local", None).source == str(saved)
    other = write(tmp_path, document())
    assert resolve_targets("local", str(other)).source == str(other)


@pytest.mark.parametrize(("field", "value"), [("stack", "../../../../tmp/x"),
                                              ("stack", "a b"), ("image", "../../../../root")])
def test_names_that_become_paths_are_refused(tmp_path, field, value):
    data = document()
    if field == "image":
        data["image"]["hash"] = value
    else:
        data["stack"] = value
    with pytest.raises(ConfigError) as info:
        load_targets_file(write(tmp_path, data))
    assert "targets.json" in str(info.value) and value in str(info.value)


@pytest.mark.parametrize("key", ["b3BlbnNzaC1rZXktdjEAAAAA", ["b3BlbnNzaC1rZXktdjEAAAAA"],
                                 {"secret": "b3BlbnNzaC1rZXktdjEAAAAA"}, 7])
def test_a_malformed_private_key_is_never_echoed(tmp_path, key):
    data = document()
    data["ssh_private_key"] = key
    with pytest.raises(ConfigError) as info:
        load_targets_file(write(tmp_path, data))
    assert "ssh_private_key" in str(info.value)
    assert "b3BlbnNzaC1rZXktdjEAAAAA" not in str(info.value) and "7" not in info.value.problem


def test_targets_files_are_ignored_by_git():
    for name in ("targets.json", "targets-lab.json", "stacks/targets.json"):
        assert subprocess.run(["git", "check-ignore", "-q", name], cwd=PROJECT_ROOT).returncode == 0
