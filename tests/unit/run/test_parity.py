"""Parity rules on facts as the environments report them."""

from __future__ import annotations

import pytest

from hostbench.run.facts import EnvFacts, parse_facts
from hostbench.run.parity import ParityError, check_parity, verdict
from hostbench.stack.environments import Kind
from hostbench.stack.host import cpu_list
from hostbench.stack.targets import Target

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
          sysbench="a" * 64, fio="b" * 64) -> EnvFacts:
    return parse_facts(FACTS_OUTPUT.format(cpus=cpus, memtotal=memtotal, limit=limit, virt=virt,
                                           sysbench=sysbench, fio=fio))


def container(name: str = "container", cores: tuple[int, ...] = (1,)) -> Target:
    return Target(name=name, kind=Kind.CONTAINER, cores=cores, memory_mib=1024,
                  host_address="172.17.0.1", host="127.0.0.1", port=2222, user="root")


def targets(vm_memory: int = 1024, ctr_cores: tuple[int, ...] = (1,)) -> list[Target]:
    return [
        Target(name="bare", kind=Kind.BARE, cores=(1,), memory_mib=1024,
               host_address="127.0.0.1", rootfs="/r"),
        Target(name="vm", kind=Kind.VM, cores=(1,), memory_mib=vm_memory,
               host_address="192.168.150.1", host="h", port=22, user="root", accel="tcg"),
        container(cores=ctr_cores),
    ]


def good_facts() -> dict[str, EnvFacts]:
    return {"bare": facts(), "vm": facts(cpus="0", memtotal=983864, limit="max", virt="qemu"),
            "container": facts(limit=str(1024**3), virt="docker")}


def failures(checks):
    return verdict(checks, allow_mismatch=False).failures


def test_matched_environments_pass_every_check():
    checks = check_parity(targets(), good_facts(), BINARIES)
    assert failures(checks) == []
    assert {c.env for c in checks} == {"bare", "vm", "container"}


def test_parse_facts_reads_numbers_and_no_cgroup_limit():
    f = facts()
    assert f.nproc == 1 and f.memtotal_kib == 24683656
    assert f.cgroup_memory_limit is None  # cgroup v1's "unlimited" is a huge number
    assert f.binaries["/usr/bin/fio"] == "b" * 64
    assert facts(limit=str(1024**3)).cgroup_memory_limit == 1024**3


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


def test_a_fourth_environment_gets_the_rules_of_its_kind():
    envs = [*targets(), container("container-2", cores=(0,))]
    found = {**good_facts(), "container-2": facts(cpus="0", limit=str(512 * 1024**2))}
    bad = failures(check_parity(envs, found, BINARIES))
    assert {(c.env, c.fact) for c in bad} == {("container-2", "cgroup memory limit (bytes)")}
    assert {c.env for c in check_parity(envs, found, BINARIES)} == {
        "bare", "vm", "container", "container-2"}


def test_the_verdict_records_an_override():
    bad = check_parity(targets(), {**good_facts(), "container": facts(cpus="0")}, BINARIES)
    assert verdict(bad, allow_mismatch=True).overridden
    assert not verdict(bad, allow_mismatch=False).overridden
    good = verdict(check_parity(targets(), good_facts(), BINARIES), allow_mismatch=True)
    assert good.ok and not good.overridden


def _gvisor() -> Target:
    options = container().options
    assert options is not None
    return container("gvisor").model_copy(
        update={"options": options.model_copy(update={"runtime": "runsc"})})


def test_gvisor_is_checked_by_its_own_view_strict_on_cores_memory_and_binaries():
    """gVisor answers /proc itself: no CPU list, no cgroup files, MemTotal = the sandbox limit
    (as seen in a runsc container here)."""
    envs = [*targets(), _gvisor()]
    own_view = facts(cpus="", memtotal=1024 * 1024, limit="max", virt="docker")
    assert failures(check_parity(envs, {**good_facts(), "gvisor": own_view}, BINARIES)) == []
    bigger = facts(cpus="", memtotal=2048 * 1024, limit="max", virt="docker")
    bad = failures(check_parity(envs, {**good_facts(), "gvisor": bigger}, BINARIES))
    assert [(c.env, c.fact) for c in bad] == [("gvisor", "MemTotal (KiB)")]
    other_binary = facts(cpus="", memtotal=1024 * 1024, limit="max", sysbench="c" * 64)
    bad = failures(check_parity(envs, {**good_facts(), "gvisor": other_binary}, BINARIES))
    assert [(c.env, c.fact) for c in bad] == [("gvisor", "sha256 /usr/bin/sysbench")]
    # a runc container without the cgroup limit inside still fails
    bad = failures(check_parity(targets(), {**good_facts(), "container": own_view}, BINARIES))
    assert {c.fact for c in bad} == {"usable CPU list", "cgroup memory limit (bytes)"}


def test_a_throttled_container_fails_parity():
    """`docker update --cpus 0.5`: same cores, same count, half the CPU time (seen here)."""
    def with_quota(f: EnvFacts, quota: str) -> EnvFacts:
        return f.model_copy(update={"cpu_quota": quota})

    found = {name: with_quota(f, "-1 100000") for name, f in good_facts().items()}
    assert failures(check_parity(targets(), found, BINARIES)) == []
    found["container"] = with_quota(found["container"], "50000 100000")
    bad = failures(check_parity(targets(), found, BINARIES))
    assert {(c.env, c.fact) for c in bad} == {(env, "CPU bandwidth") for env in found}
    assert next(c.actual for c in bad if c.env == "container") == "0.5 cores"
    found["container"] = with_quota(found["container"], "")  # gVisor shows none: not compared
    assert failures(check_parity(targets(), found, BINARIES)) == []


@pytest.mark.parametrize(("clocksource", "ok"), [("tsc", True), ("kvm-clock", True),
                                                  ("acpi_pm", True), ("refined-jiffies", False),
                                                  ("jiffies", False)])
def test_a_clock_that_ticks_in_jiffies_fails_parity(clocksource, ok):
    found = good_facts()
    found["vm"] = found["vm"].model_copy(update={"clocksource": clocksource})
    clock = [c for c in check_parity(targets(), found, BINARIES)
             if c.fact == "clocksource" and c.env == "vm"]
    assert [c.ok for c in clock] == [ok]
    if not ok:
        assert "jiffies" in clock[0].rule and "TSC" in clock[0].rule


def test_a_clocksource_the_environment_does_not_show_is_not_judged():
    found = good_facts()
    found["container"] = found["container"].model_copy(update={"clocksource": "unknown"})
    assert not [c for c in check_parity(targets(), found, BINARIES)
                if c.fact == "clocksource" and c.env == "container"]


def test_an_io_throttle_in_one_environment_fails_parity():
    def with_io(f: EnvFacts, limits: str | None) -> EnvFacts:
        return f.model_copy(update={"io_limits": limits})

    found = {name: with_io(f, "none") for name, f in good_facts().items()}
    assert not failures(check_parity(targets(), found, BINARIES))
    found["container"] = with_io(found["container"], "read_bps_device:8:0 1048576;")
    bad = {c.env: c.actual for c in failures(check_parity(targets(), found, BINARIES))
           if c.fact == "I/O limits"}  # a mismatch is between environments: each is shown
    assert bad["container"] == "read_bps_device:8:0 1048576;" and bad["bare"] == "none"
    found["container"] = with_io(found["container"], None)  # shows no cgroup files: not judged
    assert not [c for c in check_parity(targets(), found, BINARIES)
                if c.fact == "I/O limits" and c.env == "container"]


def test_io_limits_are_read_from_cgroup_v1_and_v2_output():
    v1 = parse_facts(FACTS_OUTPUT.format(cpus="1", memtotal=1, limit="max", virt="none",
                                         sysbench="a", fio="b")
                     + "io_limits=read_bps_device:8:0 1048576;\n")
    assert v1.io_limits == "read_bps_device:8:0 1048576;"
    none = parse_facts(FACTS_OUTPUT.format(cpus="1", memtotal=1, limit="max", virt="none",
                                           sysbench="a", fio="b") + "io_limits=none\n")
    assert none.io_limits == "none"


def test_a_container_inside_a_vm_is_held_to_the_vms_memory_and_a_containers_limit():
    nested = Target(name="container-in-vm", kind=Kind.VM, cores=(1,), memory_mib=1024,
                    host_address="192.168.150.1", host="h2", port=22, user="root", accel="tcg",
                    nested_port=2223)
    found = {**good_facts(),
             "container-in-vm": facts(cpus="0", memtotal=983864, limit=str(1024**3),
                                      virt="docker")}
    checks = check_parity([*targets(), nested], found, BINARIES)
    assert failures(checks) == []
    mine = {c.fact for c in checks if c.env == "container-in-vm"}
    assert {"MemTotal (KiB)", "cgroup memory limit (bytes)"} <= mine
    found["container-in-vm"] = facts(cpus="0", memtotal=983864, limit="max", virt="docker")
    assert [(c.env, c.fact) for c in failures(check_parity([*targets(), nested], found,
                                                           BINARIES))] == [
        ("container-in-vm", "cgroup memory limit (bytes)")]
