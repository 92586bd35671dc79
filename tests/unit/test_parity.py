"""Parity rules on facts as the environments report them."""

from __future__ import annotations

import pytest

from hostbench.facts import parse_facts
from hostbench.parity import ParityError, check_parity, cpu_list, failures
from hostbench.target_source import Target, Targets

BINARIES = {"/usr/bin/sysbench": "a" * 64, "/usr/bin/fio": "b" * 64}
FACTS_OUTPUT = """nproc=1
cpus_allowed={cpus}
memtotal_kib={memtotal}
cgroup_memory_limit={limit}
kernel=6.1.0-50-amd64
os_release=Debian GNU/Linux 12 (bookworm)
virtualization={virt}
clocksource=tsc
sha256:/usr/bin/sysbench={sysbench}
sha256:/usr/bin/fio={fio}
"""


def facts(cpus="1", memtotal=24683656, limit="9223372036854771712", virt="none",
          sysbench="a" * 64, fio="b" * 64) -> dict:
    return parse_facts(FACTS_OUTPUT.format(cpus=cpus, memtotal=memtotal, limit=limit, virt=virt,
                                           sysbench=sysbench, fio=fio))


def targets(vm_memory: int = 1024, ctr_cores: tuple[int, ...] = (1,)) -> Targets:
    return Targets(stack="t", source="test", private_key="k", spec={}, image={}, targets={
        "bare": Target("bare", (1,), 1024, "127.0.0.1", rootfs="/r"),
        "vm": Target("vm", (1,), vm_memory, "192.168.150.1", host="h", port=22, user="root",
                     accel="tcg"),
        "container": Target("container", ctr_cores, 1024, "172.17.0.1", host="127.0.0.1",
                            port=2222, user="root"),
    })


def good_facts() -> dict:
    return {"bare": facts(), "vm": facts(cpus="0", memtotal=983864, limit="max", virt="qemu"),
            "container": facts(limit=str(1024**3), virt="docker")}


def test_matched_environments_pass_every_check():
    checks = check_parity(targets(), good_facts(), BINARIES)
    assert failures(checks) == []
    assert {c.env for c in checks} == {"bare", "vm", "container"}


def test_parse_facts_reads_numbers_and_no_cgroup_limit():
    f = facts()
    assert f["nproc"] == 1 and f["memtotal_kib"] == 24683656
    assert f["cgroup_memory_limit"] is None  # cgroup v1's "unlimited" is a huge number
    assert f["binaries"]["/usr/bin/fio"] == "b" * 64
    assert facts(limit=str(1024**3))["cgroup_memory_limit"] == 1024**3


def test_container_on_another_core_is_refused():
    found = good_facts()
    found["container"] = facts(cpus="0", limit=str(1024**3), virt="docker")
    bad = failures(check_parity(targets(), found, BINARIES))
    assert [(c.env, c.fact, c.expected, c.actual) for c in bad] == [
        ("container", "usable CPU list", "1", "0")]


def test_container_with_other_memory_is_refused():
    found = good_facts()
    found["container"] = facts(limit=str(512 * 1024**2), virt="docker")
    bad = failures(check_parity(targets(), found, BINARIES))
    assert [(c.env, c.fact) for c in bad] == [("container", "cgroup memory limit (bytes)")]


@pytest.mark.parametrize(("memtotal", "ok"), [(983864, True), (int(0.85 * 1048576), True),
                                              (int(0.84 * 1048576), False), (1048577, False)])
def test_vm_memtotal_tolerance(memtotal, ok):
    found = good_facts()
    found["vm"] = facts(cpus="0", memtotal=memtotal, limit="max", virt="qemu")
    assert (failures(check_parity(targets(), found, BINARIES)) == []) == ok


def test_different_binary_and_unmatched_declarations_are_refused():
    found = good_facts()
    found["vm"] = facts(cpus="0", memtotal=1900000, limit="max", sysbench="c" * 64)
    bad = failures(check_parity(targets(vm_memory=2048), found, BINARIES))
    assert {(c.env, c.fact) for c in bad} == {("vm/container", "declared resources"),
                                              ("vm", "sha256 /usr/bin/sysbench")}
    message = str(ParityError(bad))
    assert "vm: sha256 /usr/bin/sysbench: expected aaaaaaaaaaaaaaaa, found cccccccccccccccc" \
        in message and "--allow-mismatch" in message


def test_cpu_list_parsing():
    assert cpu_list("0-2,5") == {0, 1, 2, 5}
    assert cpu_list("1") == {1} and cpu_list("") == set()
