"""Accounting parsers fed /proc text and a process list recorded on a real host (a busy half
second between the two snapshots; a gVisor and a runc container running), and the accountant
around real work on this machine."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from hostbench.provision.metering import process_cpu_file
from hostbench.reach.rusage import Rusage
from hostbench.run.accounting import (
    Accountant,
    TrialAccounts,
    machinery_figures,
    read_files,
    rusage_figures,
    snapshot_figures,
)
from hostbench.run.machinery import (
    Machinery,
    container_machinery,
    engine_daemons,
    process_list,
    thread_group,
    vm_machinery,
)
from hostbench.run.procfs import CPU_FIELDS, cpu_times, interrupts, softirqs, task_times
from hostbench.stack.host import LocalHost

DATA = Path(__file__).resolve().parents[2] / "data" / "proc"
RUNSC_SANDBOX, RUNC_SLEEP = 15088, 15195  # the containers' first processes when recorded


def _text(name: str) -> str:
    return (DATA / name).read_text()


def test_each_cpus_states_add_up_to_its_time_with_guest_time_taken_out_of_user():
    cpus = cpu_times(_text("stat.before"))
    assert set(cpus) == {0, 1} and set(cpus[0]) == set(CPU_FIELDS)
    line = "cpu0 1000 50 300 5000 10 5 20 0 400 30\nintr 7 1 2\n"
    states = cpu_times(line)[0]
    assert states["user"] == pytest.approx(600 / os.sysconf("SC_CLK_TCK"))
    assert states["nice"] == pytest.approx(20 / os.sysconf("SC_CLK_TCK"))
    assert interrupts(line) == 7


def test_a_busy_half_second_shows_in_the_recorded_snapshots():
    before = {"/proc/stat": _text("stat.before"), "/proc/softirqs": _text("softirqs.before")}
    after = {"/proc/stat": _text("stat.after"), "/proc/softirqs": _text("softirqs.after")}
    figures, missing = snapshot_figures(before, after, Machinery(), None, measured={0})
    got = {f.name: f.value for f in figures}
    busy = sum(got[f"cpu.{where}.{state}"] for where in ("measured", "other")
               for state in ("user", "system"))
    assert busy >= 0.4 and missing == []
    assert got["softirq.TIMER"] > 0 and got["interrupts"] > 0
    assert {f.unit for f in figures if f.name.startswith("softirq.")} == {"count"}


def test_softirqs_are_summed_over_cpus_by_type():
    counts = softirqs(_text("softirqs.before"))
    assert {"NET_RX", "NET_TX", "BLOCK", "TIMER", "SCHED"} <= set(counts)
    assert softirqs("    CPU0  CPU1\n NET_RX:  3  4\n") == {"NET_RX": 7}
    with pytest.raises(ValueError):
        softirqs("garbage")


def test_a_tasks_name_may_hold_spaces_and_parentheses():
    stat = "4242 (CPU 0/TCG) S 1 4242 4242 0 -1 4194368 0 0 0 0 250 50 0 0 20 0 1 0"
    assert task_times(stat) == ("CPU 0/TCG", pytest.approx(300 / os.sysconf("SC_CLK_TCK")))
    name, _ = task_times("7 (a) b) c) S 1 2 3 4 5 6 7 8 9 10 0 0 0 0")
    assert name == "a) b) c"


def test_a_gvisor_containers_shim_sentry_and_gofer_are_found_in_a_real_process_list():
    processes = process_list(_text("ps.txt"))
    gvisor = container_machinery(processes, RUNSC_SANDBOX).processes
    assert gvisor["shim"] == (15066,)
    assert gvisor["runsc.sentry"] == (15088,) and gvisor["runsc.gofer"] == (15084,)
    runc = container_machinery(processes, RUNC_SLEEP).processes
    assert runc["shim"] == (15174,) and "runsc.sentry" not in runc
    assert engine_daemons(processes) == {"dockerd": (9183,), "containerd": (9197,)}


def test_a_vms_qemu_threads_are_split_into_vcpus_main_loop_and_the_rest():
    processes = process_list("  900   1 /usr/bin/qemu-system-x86_64 -name guest=vm\n"
                             "  901   2 [vhost-900]\n  902   2 [vhost-9000]\n")
    machinery = vm_machinery(processes, 900)
    assert machinery.qemu == 900 and machinery.processes["vhost"] == (901,)
    assert [thread_group(n, t, 900) for n, t in
            (("CPU 0/TCG", 905), ("CPU 1/KVM", 906), ("qemu-system-x86", 900),
             ("IO mon_iothread", 903), ("worker", 907))] == [
        "qemu.vcpu", "qemu.vcpu", "qemu.main", "qemu.other", "qemu.other"]


def _stat(pid: int, name: str, utime: int, stime: int) -> str:
    return f"{pid} ({name}) S 1 1 1 0 -1 0 0 0 0 0 {utime} {stime} 0 0 20 0 1 0"


def test_qemus_other_threads_are_what_its_vcpus_and_main_loop_leave_of_the_process():
    pid, tick = 900, 1 / os.sysconf("SC_CLK_TCK")
    before = {f"/proc/{pid}/stat": _stat(pid, "qemu-system-x86", 100, 0),
              f"/proc/{pid}/task/{pid}/stat": _stat(pid, "qemu-system-x86", 10, 0),
              f"/proc/{pid}/task/905/stat": _stat(905, "CPU 0/TCG", 80, 0)}
    after = {f"/proc/{pid}/stat": _stat(pid, "qemu-system-x86", 200, 20),
             f"/proc/{pid}/task/{pid}/stat": _stat(pid, "qemu-system-x86", 20, 5),
             f"/proc/{pid}/task/905/stat": _stat(905, "CPU 0/TCG", 150, 10)}
    figures, missing = machinery_figures(before, after, Machinery({"qemu": (pid,)}, qemu=pid),
                                         None)
    got = {f.name: f.value for f in figures}
    assert missing == []
    assert got["host.qemu"] == pytest.approx(120 * tick)
    assert got["host.qemu.vcpu"] == pytest.approx(80 * tick)
    assert got["host.qemu.main"] == pytest.approx(15 * tick)
    assert got["host.qemu.other"] == pytest.approx(25 * tick)


def test_a_process_gone_between_snapshots_is_named_not_counted_as_zero():
    before = {"/proc/5/stat": _stat(5, "containerd-shim", 1, 1)}
    figures, missing = machinery_figures(before, {}, Machinery({"shim": (5,)}), None)
    assert figures == [] and missing == ["shim"]


def test_the_rusage_figures_keep_their_units():
    figures = rusage_figures(Rusage(1.5, 0.25, 10, 2, 300, 1, 2048), "loadgen")
    assert {f.name: (f.value, f.unit) for f in figures}["loadgen.max_rss"] == (2048, "KiB")
    assert {f.name for f in figures} >= {"loadgen.user", "loadgen.voluntary_switches"}


def test_an_environment_that_counts_no_switches_or_faults_gets_none_rather_than_zeros():
    """What GNU time printed inside gVisor for an iperf3 client: times, no counts."""
    names = {f.name for f in rusage_figures(Rusage(0.57, 0.37, 0, 0, 0, 0, 9600), "workload")}
    assert names == {"workload.user", "workload.system", "workload.max_rss"}


def _burn(seconds: float, cpu: int) -> None:
    subprocess.run(["taskset", "-c", str(cpu), "sh", "-c",
                    f"end=$(($(date +%s%N) + {int(seconds * 1e9)})); "
                    "while [ $(date +%s%N) -lt $end ]; do :; done"], check=True)


def test_the_accountant_around_real_work_counts_the_measured_core_and_this_process():
    """This test's own process stands in for an environment's machinery: the work runs in a
    child it waits for, so the process's own time barely moves while its core is busy."""
    cpu = min(os.sched_getaffinity(0))
    me = os.getpid()
    accountant = Accountant(LocalHost(), {"env": {cpu}},
                            lambda env: (Machinery({"self": (me,)}), process_cpu_file(me)))
    accounts = TrialAccounts()
    with accountant.around("env", accounts):
        _burn(0.4, cpu)
    got = {f.name: f.value for f in accounts.figures}
    assert accounts.note is None
    busy = got["cpu.measured.user"] + got["cpu.measured.system"]
    assert busy >= 0.25  # the burn, on the measured core
    assert got["host.self"] < busy and "host.container" in got
    assert 0 < got["accounting.cost"] < busy


def test_an_accountant_that_cannot_find_the_machinery_says_why_and_the_trial_goes_on():
    def lost(env: str):
        raise OSError(f"/run/libvirt/qemu/{env}.pid: no such file")

    accounts = TrialAccounts()
    ran = []
    with Accountant(LocalHost(), {"vm": {0}}, lost).around("vm", accounts):
        ran.append(True)
    assert ran and accounts.figures == [] and "no such file" in (accounts.note or "")


def test_files_are_read_by_pattern_and_unreadable_ones_left_out(tmp_path):
    (tmp_path / "a").write_text("1")
    (tmp_path / "b").write_text("2")
    found = read_files(LocalHost(), [str(tmp_path / "*"), str(tmp_path / "missing")])
    assert found == {str(tmp_path / "a"): "1", str(tmp_path / "b"): "2"}


class _ShellHost(LocalHost):
    """A host reached through a command line (as over SSH): here a local shell runs it."""

    remote = True

    def output(self, argv: list[str], timeout: float = 120, stdin: bytes | None = None) -> str:
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                              check=True).stdout


def test_a_remote_hosts_files_come_in_one_command_with_the_same_result(tmp_path):
    (tmp_path / "other").write_text("3")
    patterns = [str(tmp_path / "other"), "/proc/self/task/*/stat", str(tmp_path / "gone")]
    found = read_files(_ShellHost(), patterns)
    assert found[str(tmp_path / "other")] == "3"
    assert any(path.startswith("/proc/self/task/") for path in found)
    assert str(tmp_path / "gone") not in found


def test_port_forwarders_that_come_and_go_with_other_containers_are_not_watched():
    processes = process_list("  700   1 dockerd\n  701 700 /usr/bin/docker-proxy -proto tcp\n")
    assert engine_daemons(processes) == {"dockerd": (700,)}
