"""`fab benchmark` and `fab parity` for real: bare metal (chroot), a TCG VM and a container made
by the direct module; results in SQLite; parity refusals; a killed run resumed."""

from __future__ import annotations

import io
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from statistics import median

import docker
import libvirt
import pytest
from docker.models.containers import Container
from rich.console import Console

from hostbench.analysis.overheads import analyse
from hostbench.commands.connections import access
from hostbench.commands.provision import CONTAINER_SSH_TIMEOUT_S
from hostbench.paths import PROJECT_ROOT
from hostbench.polling import wait_until
from hostbench.provision.control import EnvironmentControl
from hostbench.provision.daemons import DAEMONS, Daemon, ensure, systemd_runs_services
from hostbench.provision.plan import ResourcePlan
from hostbench.reach.executors import executor_for
from hostbench.reach.ssh import wait_for_ssh
from hostbench.results.store import Store, StoredRun
from hostbench.run.accounting import Accountant, machinery_finder
from hostbench.run.firewall import client_source, rule_tag
from hostbench.run.parsers import parse
from hostbench.run.run_records import TrialRecord
from hostbench.run.runner import RunContext, cleanup_scratch, run_trial
from hostbench.run.schedule import PlannedTrial
from hostbench.run.servers import HostServerProcess, server_cores
from hostbench.run.workloads import load_catalogue
from hostbench.stack.host import LocalHost
from hostbench.stack.spec import StackSpec
from hostbench.stack.targets import saved_targets_file

FAB = str(Path(sys.executable).with_name("fab"))
CHROMIUM = "/usr/bin/chromium"
# Chromium as root in a sandbox with no network: no sandbox, no GPU, no background fetches.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="module")
def env(stack: dict, e2e_spec: StackSpec, tmp_path_factory: pytest.TempPathFactory
        ) -> dict[str, str]:
    """Environment of the fab processes: the e2e state and a results directory of their own."""
    return {**os.environ, "HOSTBENCH_STATE_DIR": os.environ["HOSTBENCH_STATE_DIR"],
            "HOSTBENCH_RESULTS_DIR": str(tmp_path_factory.mktemp("results")), "COLUMNS": "160"}


def fab_argv(spec: StackSpec, *args: str) -> list[str]:
    return [FAB, *args, "--targets-file", str(saved_targets_file(spec.stack))]


def fab(env: dict[str, str], spec: StackSpec, *args: str, timeout: float = 1200
        ) -> subprocess.CompletedProcess:
    return subprocess.run(fab_argv(spec, *args), cwd=PROJECT_ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)


def start_again(daemon: Daemon) -> None:
    """Once the killed ``daemon`` has gone, start it again."""
    wait_until(lambda: subprocess.run(["pgrep", "-x", daemon.name]).returncode != 0, 60, 0.2)
    ensure(daemon)


def store(env: dict[str, str]) -> Store:
    return Store(Path(env["HOSTBENCH_RESULTS_DIR"]) / "hostbench.sqlite")


@pytest.fixture(scope="module")
def smoke_run(env, e2e_spec) -> tuple[subprocess.CompletedProcess, str]:
    proc = fab(env, e2e_spec, "benchmark", "--suite", "smoke", "--repeat", "2", "--warmup", "1")
    with store(env) as s:
        run_id = s.latest_run_id()
    assert run_id is not None, proc.stderr
    return proc, run_id


def test_smoke_suite_runs_in_all_three_environments(smoke_run):
    proc, run_id = smoke_run
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert run_id is not None
    assert "parity ok" in proc.stdout


def test_every_trial_and_its_facts_are_in_sqlite(smoke_run, env, e2e_spec):
    _, run_id = smoke_run
    smoke = [w for w in load_catalogue().values() if w.in_suite("smoke")]
    with store(env) as s:
        stored = s.load(run_id)
    run, trials = stored.record, stored.trials
    assert run.status == "complete"
    assert len(trials) == len(run.plan) == len(smoke) * 3 * 3  # workloads x rounds x envs
    failed = [(t.workload, t.env, t.error) for t in trials if t.status != "ok"]
    assert failed == []
    assert {t.position for t in trials} == {0, 1, 2}
    assert {(r.workload, r.env) for r in stored.samples()} == {
        (w.name, e) for w in smoke for e in ("bare", "vm", "container")}
    facts = stored.env_facts
    assert set(facts) == {"bare", "vm", "container"}
    assert all(f.nproc == len(e2e_spec.cores) for f in facts.values())
    assert "jiffies" not in facts["vm"].clocksource
    assert run.environment("vm").accel == e2e_spec.accel and run.host and run.host.cpu_model
    assert run.image_hash and run.git_commit and run.parity and run.parity.ok
    assert run.wall_seconds == pytest.approx(run.workload_seconds + run.orchestration_seconds)
    assert 0 < run.workload_seconds < run.wall_seconds
    for trial in trials:
        assert Path(trial.raw_path).read_text().startswith("$ ")


def _figures(trial) -> dict[str, float]:
    return {f.name: f.value for f in trial.accounting}


def test_every_trial_is_accounted_with_its_environments_host_machinery(smoke_run, env):
    """A container trial's accounting names its shim and cgroup, a VM trial's QEMU's threads;
    the measured command's rusage comes from inside, a service's from its load generator."""
    _, run_id = smoke_run
    with store(env) as s:
        run = s.load(run_id)
    for trial in (t for t in run.trials if t.status == "ok"):
        got, where = _figures(trial), f"{trial.workload} in {trial.env}"
        assert trial.accounting_note is None, where
        assert got["cpu.measured.user"] + got["cpu.measured.system"] > 0, where
        assert "cpu.other.idle" in got and "softirq.TIMER" in got, where
        rusage = "loadgen" if trial.workload.startswith("service-") else "workload"
        assert got[f"{rusage}.user"] + got[f"{rusage}.system"] > 0, where
        assert {"host.dockerd", "host.containerd"} <= set(got), where
        if trial.env == "vm":
            assert got["host.qemu.vcpu"] > 0 and "host.qemu.main" in got, where
            assert got["host.qemu"] >= got["host.qemu.vcpu"], where
        if trial.env == "container":
            assert "host.shim" in got and got["host.container"] > 0, where
    accounting = (Path(env["HOSTBENCH_RESULTS_DIR"]) / "runs" / run_id / "accounting.csv")
    assert "host.qemu.vcpu" in accounting.read_text()


def test_summary_is_printed_with_the_vm_labelled(smoke_run, e2e_spec):
    proc, run_id = smoke_run
    summary = proc.stdout[proc.stdout.index(f"run {run_id} (smoke suite"):]
    rows = [line.split("│")[1].strip() for line in summary.splitlines() if line.startswith("│")]
    assert "overhead vs bare" in summary and any("cpu-sysbench" in r for r in rows)
    vm_rows = [r for r in rows if r.startswith("vm")]
    expected = "vm (TCG emulation)" if e2e_spec.accel == "tcg" else "vm (KVM)"
    assert len(vm_rows) >= 5 and set(vm_rows) == {expected}
    # every progress line of a VM trial carries the label too
    assert not re.search(r"^\s+\S+ vm (warm-up|trial)", proc.stdout, re.M)
    assert "orchestration" in summary


@pytest.fixture
def changed_container(e2e_spec: StackSpec, e2e_plan: ResourcePlan
                      ) -> Iterator[Container]:
    """The running container; whatever a test changes with `docker update` is restored."""
    container = docker.from_env().containers.get(e2e_plan.containers[0].name)
    yield container
    container.update(cpuset_cpus=e2e_spec.cpuset, mem_limit=f"{e2e_spec.memory_mib}m",
                     memswap_limit=f"{e2e_spec.memory_mib}m", cpu_quota=-1)


def test_a_container_pinned_to_another_core_is_refused(env, e2e_spec, changed_container):
    other = next(str(c) for c in sorted(os.sched_getaffinity(0)) if c not in e2e_spec.cores)
    changed_container.update(cpuset_cpus=other)
    proc = fab(env, e2e_spec, "parity")
    assert proc.returncode == 1
    assert "usable CPU list" in proc.stdout and "parity check failed" in proc.stderr


def test_a_container_with_other_memory_is_refused_unless_overridden(env, e2e_spec,
                                                                    changed_container):
    changed_container.update(mem_limit="512m", memswap_limit="512m")
    proc = fab(env, e2e_spec, "parity")
    assert proc.returncode == 1 and "cgroup memory limit" in proc.stdout
    proc = fab(env, e2e_spec, "benchmark", "--allow-mismatch", "--suite", "smoke", "--workload",
               "cpu-sysbench", "--env", "bare,container", "--repeat", "1", "--warmup", "0")
    assert proc.returncode == 0, proc.stderr[-2000:]
    with store(env) as s:
        run = s.get_run(s.latest_run_id())
    assert run.parity and run.parity.ok is False and run.parity.overridden is True
    assert run.options.allow_mismatch is True


def test_a_throttled_container_fails_parity_and_its_known_slowdown_is_caught(env, e2e_spec,
                                                                             changed_container):
    changed_container.update(cpu_period=100000, cpu_quota=50000)  # docker update --cpus 0.5
    proc = fab(env, e2e_spec, "parity")
    assert proc.returncode == 1 and "CPU bandwidth" in proc.stdout and "0.5 cores" in proc.stdout
    throttled = _container_events(env, e2e_spec, "--allow-mismatch")
    assert throttled.verdict == "slower"
    assert 1.6 < throttled.factor.value < 2.5  # half the CPU: about twice the cost per event
    changed_container.update(cpu_quota=-1)  # the same container, unthrottled
    unthrottled = _container_events(env, e2e_spec)
    assert unthrottled.verdict not in ("slower", "faster")


def _container_events(env, e2e_spec, *extra: str):
    """The container's events/s against bare metal's after 3 paired rounds of 1 s."""
    proc = fab(env, e2e_spec, "benchmark", *extra, "--suite", "smoke", "--workload", "cpu-sysbench",
               "--env", "bare,container", "--repeat", "3", "--warmup", "0")
    assert proc.returncode == 0, proc.stderr[-2000:]
    with store(env) as s:
        run_id = s.latest_run_id()
        assert run_id is not None
        run = s.load(run_id)
    results = analyse(run.measured(), run.record.environments, run.record.verdict_margins)
    events = next(r for r in results
                  if r.metric == "events_per_second" and r.env.name == "container")
    assert events.overhead is not None and events.overhead.n_pairs == 3
    return events.overhead


def test_calibration_sets_the_floor_and_repeat_auto_records_why_it_stopped(env, e2e_spec):
    proc = fab(env, e2e_spec, "calibrate", "--suite", "smoke", "--workload", "cpu-sysbench",
               "--repeat", "3", "--warmup", "0")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "noise floor of this host" in proc.stdout
    with store(env) as s:
        calibration = s.load(s.latest_run_id())
    assert calibration.record.purpose == "calibration"
    assert {t.env for t in calibration.trials} == {"bare", "bare-2"}
    proc = fab(env, e2e_spec, "benchmark", "--suite", "smoke", "--workload", "cpu-sysbench",
               "--env", "bare,container", "--repeat", "auto", "--min-repeat", "2",
               "--max-repeat", "3", "--warmup", "0")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert f"noise floor from calibration run {calibration.id}" in proc.stdout
    with store(env) as s:
        run = s.get_run(s.latest_run_id())
    assert run.margins.floor_run == calibration.id and run.margins.floors
    assert run.stopping is not None and 2 <= run.stopping.rounds["cpu-sysbench"] <= 3
    assert run.stopping.reasons["cpu-sysbench"]


SSH_CHILD = """
import signal, sys
signal.signal(signal.SIGINT, signal.default_int_handler)
from hostbench.reach.executors import SSHExecutor
from hostbench.reach.ssh import StackAccess
from pathlib import Path
host, port, key_file, known_hosts = sys.argv[1:]
access = StackAccess(open(key_file).read(), Path(known_hosts))
SSHExecutor("container", host, int(port), "root", access).run(
    ["sh", "-c", "sleep 3050 & sleep 3051; wait"], timeout=120)
"""


def _inside(container, pattern: str) -> str:
    """The command lines of the container's processes that contain ``pattern``."""
    listing = container.exec_run(["sh", "-c", 'for p in /proc/[0-9]*; do '
                                  'tr "\\0" " " < "$p/cmdline"; echo; done']).output.decode()
    return "\n".join(line for line in listing.splitlines()
                     if pattern in line and "/proc/" not in line)


@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGKILL])
def test_an_interrupted_or_killed_run_leaves_nothing_running_in_the_container(
        stack, e2e_spec, changed_container, tmp_path, how):
    target = stack.targets["container"]
    key = tmp_path / "key"
    key.write_text(stack.ssh_private_key)
    child = subprocess.Popen([sys.executable, "-c", SSH_CHILD, str(target.host),
                              str(target.port), str(key), str(access(stack).known_hosts)],
                             cwd=PROJECT_ROOT,
                             stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: "sleep 3051" in _inside(changed_container, "sleep 305"), 30, 0.2)
        assert "sleep 3051" in _inside(changed_container, "sleep 305"), "never started"
        child.send_signal(how)
        child.wait(timeout=30)
        wait_until(lambda: _inside(changed_container, "sleep 305") == "", 10, 0.2)
        assert _inside(changed_container, "sleep 305") == "", "the workload outlived the run"
    finally:
        child.kill()


def _host_processes(pattern: str) -> list[str]:
    found = subprocess.run(["pgrep", "-a", "-f", pattern], capture_output=True, text=True)
    return [line for line in found.stdout.splitlines() if "pgrep" not in line]


@pytest.mark.parametrize(("workload", "pattern"), [
    ("cpu-sysbench", "sysbench cpu --threads="),
    ("net-iperf3", "iperf3 -s -1 -B "),  # the host-side server, besides the client
])
def test_ctrl_c_during_a_bare_metal_trial_leaves_nothing_running_and_resume_completes(
        env, e2e_spec, workload, pattern):
    argv = fab_argv(e2e_spec, "benchmark", "--workload", workload, "--env", "bare", "--repeat", "2",
                    "--warmup", "0")
    with store(env) as s:
        before = s.latest_run_id()
    # Ctrl-C as a terminal sends it, even where this suite runs with SIGINT ignored (a background
    # job of a non-interactive shell), which fab would otherwise inherit and keep
    proc = subprocess.Popen(argv, cwd=PROJECT_ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        wait_until(lambda: _host_processes(pattern) or proc.poll() is not None, 300, 0.1)
        assert _host_processes(pattern), f"{pattern!r} never started"
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) != 0
        assert _host_processes(pattern) == [], "the workload outlived the run"
        assert _host_processes("iperf3 -c ") == []
        rules = subprocess.run(["iptables", "-w", "-S", "INPUT"], capture_output=True, text=True)
        assert "hostbench:" not in rules.stdout  # the server's firewall rule went with it
    finally:
        proc.kill()
    with store(env) as s:
        run_id = s.latest_run_id()
        assert run_id != before and s.get_run(run_id).status == "interrupted"
    resumed = fab(env, e2e_spec, "benchmark", "--resume", run_id)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    with store(env) as s:
        assert s.load(run_id).missing() == [] and s.get_run(run_id).status == "complete"


def test_an_environment_whose_host_key_changed_is_refused(env, e2e_spec, stack):
    """`fab up` pinned each environment's host key; another key at the address stops the run."""
    known_hosts = access(stack).known_hosts
    pinned = known_hosts.read_text()
    target = stack.targets["container"]
    entry = f"[{target.host}]:{target.port}"
    assert entry in pinned and str(stack.targets["vm"].host) in pinned
    lines = [line for line in pinned.splitlines() if not line.startswith(entry)]
    known_hosts.write_text("\n".join([*lines, f"{entry} ssh-ed25519 {_other_public_key()}"])
                           + "\n")
    try:
        proc = fab(env, e2e_spec, "parity")
        assert proc.returncode == 1
        assert "not the one pinned" in proc.stderr and str(known_hosts) in proc.stderr
    finally:
        known_hosts.write_text(pinned)


def _other_public_key() -> str:
    """The base64 of a fresh ed25519 public key: an impostor's host key."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    public = Ed25519PrivateKey.generate().public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    return public.split()[1]


def test_a_host_server_answers_only_the_environment_being_measured(stack, tmp_path):
    """While the container's iperf3 server runs, another client on docker0 (the host, from its
    bridge address) is refused, and the one slot of `iperf3 -1` is left for the container."""
    target, bare = stack.targets["container"], stack.targets["bare"]
    executor = executor_for(target, access(stack))
    source, port = client_source(executor, target.host_address), 5299
    assert source != target.host_address
    server = ["iperf3", "-s", "-1", "-B", target.host_address, "-p", str(port)]
    with HostServerProcess(server, target.host_address, port, bare.rootfs,
                           server_cores(target.cores), tmp_path / "server.log", client=source,
                           tag=rule_tag("e2e-fw")):
        with socket.socket() as other, pytest.raises(ConnectionRefusedError):
            other.bind((target.host_address, 0))
            other.connect((target.host_address, port))
        result = executor.run(["iperf3", "-c", target.host_address, "-p", str(port), "-t", "1",
                               "-J"], 60)
    assert result.exit_code == 0, result.stdout[-500:] + result.stderr[-500:]
    assert '"sum_received"' in result.stdout


def test_a_udp_host_server_serves_the_containers_ping_pong(stack, tmp_path):
    """The UDP shape: the workload's own server and client commands, a one-second trial."""
    target, bare = stack.targets["container"], stack.targets["bare"]
    workload = load_catalogue()["net-sockperf-udp-latency"]
    server = workload.host_server
    assert server is not None and server.protocol == "udp"
    executor = executor_for(target, access(stack))
    with HostServerProcess(server.render(target.host_address), target.host_address, server.port,
                           bare.rootfs, server_cores(target.cores), tmp_path / "server.log",
                           "udp", client=client_source(executor, target.host_address),
                           tag=rule_tag("e2e-udp")):
        argv = workload.render("standard", 1, {"server_address": target.host_address,
                                               "port": server.port})
        result = executor.run([*argv[:-1], "1"], 60)  # -t 1: one second is enough here
    assert result.exit_code == 0, result.stdout[-500:] + result.stderr[-500:]
    values = parse(workload.parser, result.stdout)
    assert values["latency_avg_us"] > 0 and values["latency_p99_us"] >= values["latency_avg_us"]


def test_hpcc_runs_on_bare_metal_and_in_the_container_with_openblas(env, e2e_spec, stack):
    """The HPCC shape (files in a scratch directory, MPI as root, BLAS from OpenBLAS), on the
    two environments where it takes seconds; its directory goes with the trial."""
    proc = fab(env, e2e_spec, "benchmark", "--suite", "standard", "--workload", "hpc-hpcc",
               "--env", "bare,container", "--repeat", "1", "--warmup", "0")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    with store(env) as s:
        run = s.load(s.latest_run_id())
    assert {f.blas for f in run.env_facts.values()} == {
        "/usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3"}
    gflops = {x.env: x.value for x in run.samples() if x.metric == "hpl_gflops"}
    assert set(gflops) == {"bare", "container"} and all(v > 0 for v in gflops.values())
    assert not list(Path(stack.targets["bare"].scratch).glob("*.d"))


def _load_generator_cores(stop: threading.Event, seen: dict[str, set[str]]) -> None:
    """Until ``stop``: the Cpus_allowed_list of every load generator process on the host."""
    while not stop.is_set():
        for entry in Path("/proc").iterdir():
            try:
                argv = (entry / "cmdline").read_bytes().split(b"\0")
                if argv[0] == b"redis-benchmark" or (
                        argv[0] == b"sysbench" and b"--mysql-user=sbtest" in argv):
                    status = (entry / "status").read_text()
                    allowed = re.search(r"^Cpus_allowed_list:\s*(\S+)", status, re.MULTILINE)
                    if allowed:
                        seen.setdefault(argv[0].decode(), set()).add(allowed.group(1))
            except (OSError, IndexError):
                continue
        time.sleep(0.1)


SERVERS = ("redis-server", "mariadbd", "nginx")


def _allowed_cores(pid: int) -> set[int]:
    try:
        return os.sched_getaffinity(pid)
    except OSError:  # gone meanwhile
        return set()


def _servers_left(stack) -> dict[str, str]:
    """Service processes still running on the host and in the VM and the container. On the
    host, only those that may run on the stack's cores: the stacks of the other e2e group
    (core 0) run their own servers meanwhile, bare metal's among them."""
    left = {}
    running = subprocess.run(["pgrep", "-a", "-x", "|".join(SERVERS)], capture_output=True,
                             text=True).stdout.splitlines()
    host = [line for line in running
            if _allowed_cores(int(line.split()[0])) & set(stack.spec.cores)]
    if host:
        left["host"] = "\n".join(host)
    for name in ("vm", "container"):
        found = executor_for(stack.targets[name], access(stack)).run(
            ["sh", "-c", f"pgrep -a -x '{'|'.join(SERVERS)}' || true"], 60).stdout.strip()
        if found:
            left[name] = found
    return left


def test_services_run_inside_each_environment_and_their_clients_off_the_measured_cores(
        env, e2e_spec, stack):
    """Redis and MariaDB inside bare metal, the VM and the container, redis-benchmark and
    sysbench on the host: never on a core an environment uses, read from /proc/<pid>/status
    while they run; afterwards no server runs anywhere and their directories are gone."""
    seen: dict[str, set[str]] = {}
    stop = threading.Event()
    watcher = threading.Thread(target=_load_generator_cores, args=(stop, seen), daemon=True)
    watcher.start()
    try:
        proc = fab(env, e2e_spec, "benchmark", "--suite", "felter", "--workload",
                   "service-redis-1client,service-mariadb-oltp-ro", "--repeat", "1",
                   "--warmup", "0")
    finally:
        stop.set()
        watcher.join()
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    with store(env) as s:
        run = s.load(s.latest_run_id())
    measured = {(x.workload, x.env) for x in run.samples()}
    assert measured == {(w, e) for w in ("service-redis-1client", "service-mariadb-oltp-ro")
                        for e in ("bare", "vm", "container")}
    assert set(seen) == {"redis-benchmark", "sysbench"}, seen
    free = server_cores(tuple(e2e_spec.cores))
    assert all(cores == free for lists in seen.values() for cores in lists), (seen, free)
    assert not set(map(str, e2e_spec.cores)) & {c for lists in seen.values() for c in lists}
    assert _servers_left(stack) == {}
    assert not list(Path(stack.targets["bare"].scratch).glob("*.d"))


def test_a_service_that_cannot_start_fails_its_trial_with_its_own_words_everywhere(
        stack, tmp_path):
    """redis-server refusing its configuration: each environment's trial fails with Redis's
    message, and nothing is left running in any environment or on the host."""
    catalogue = load_catalogue()
    good = catalogue["service-redis-1client"]
    assert good.service is not None
    broken = good.model_copy(update={"service": good.service.model_copy(update={"command": [
        "redis-server", "--bind", "{service_address}", "--port", "{port}",
        "--no-such-directive", "yes"]})})
    saved: list[TrialRecord] = []
    ctx = RunContext("e2e-broken-service", "felter", stack.targets,
                     {broken.name: broken}, {n: executor_for(t, access(stack))
                                             for n, t in stack.targets.items()},
                     saved.append, tmp_path / "raw", Console(file=io.StringIO()),
                     host_tree=stack.targets["bare"].rootfs)
    for position, name in enumerate(("bare", "vm", "container")):
        run_trial(ctx, PlannedTrial(workload=broken.name, trial=0, warmup=False, env=name,
                                    position=position))
    cleanup_scratch(ctx)
    assert [t.status for t in saved] == ["failed"] * 3
    for trial in saved:
        assert "service sh exited before it accepted connections" not in trial.error
        assert "redis-server exited before it accepted connections: exit code 1" in trial.error
        assert "Bad directive or wrong number of arguments" in trial.error, trial.error
    assert _servers_left(stack) == {}


def test_accounting_costs_the_run_little_and_the_measurement_nothing_measured_in_one_run(
        stack, tmp_path):
    """Container trials of one run in pairs, one accounted and one not (which goes first
    alternates): the snapshots' cost is a small share of a trial's wall time, and the measured
    rate does not move beyond noise (the median of the pairs' ratios, so that a burst of load
    from the other e2e group, on the other core, cannot decide it alone)."""
    sysbench = load_catalogue()["cpu-sysbench"]
    targets = {"container": stack.targets["container"]}
    saved: list[TrialRecord] = []
    accountant = Accountant(LocalHost(), {"container": set(targets["container"].cores)},
                            machinery_finder(LocalHost(), EnvironmentControl(targets),
                                             {"container": targets["container"].kind}))
    executor = executor_for(targets["container"], access(stack))
    ctx = RunContext("e2e-accounting-cost", "smoke", targets, {sysbench.name: sysbench},
                     {"container": executor}, saved.append, tmp_path / "raw",
                     Console(file=io.StringIO()))
    # off-on, on-off, ...: ten pairs, so that a burst of the other group's load over a few of
    # them cannot move the median (six pairs read x0.90 once in CI, x1.01 and x1.00 alone)
    accounted = [trial % 2 != (trial // 2) % 2 for trial in range(20)]
    try:
        for trial, on in enumerate(accounted):
            ctx.accountant = accountant if on else None
            run_trial(ctx, PlannedTrial(workload=sysbench.name, trial=trial, warmup=False,
                                        env="container", position=0))
    finally:
        executor.close()
    assert [t.status for t in saved] == ["ok"] * 20
    on = [t for t in saved if accounted[t.trial]]
    off = [t for t in saved if not accounted[t.trial]]
    assert all(any(f.name == "host.shim" for f in t.accounting) for t in on)
    assert not any(f.name.startswith(("host.", "cpu.")) for t in off for f in t.accounting)
    cost = median(next(f.value for f in t.accounting if f.name == "accounting.cost") for t in on)
    wall = median(t.wall_s or 0 for t in on)
    ratios = [(a if accounted[a.trial] else b).samples[0].value
              / (b if accounted[a.trial] else a).samples[0].value
              for a, b in zip(saved[::2], saved[1::2], strict=True)]
    print(f"accounting: {cost * 1000:.1f} ms a trial of {wall:.2f} s; events/s with against "
          f"without, pair by pair: {', '.join(f'x{r:.3f}' for r in ratios)}")
    assert cost < 0.1 * wall
    assert abs(median(ratios) - 1) < 0.1


def test_bare_metal_scratch_goes_to_the_stacks_directory_not_the_image_tree(stack):
    bare = stack.targets["bare"]
    assert bare.scratch and bare.rootfs
    result = executor_for(bare, access(stack)).run(
        ["sh", "-c", "echo probe > /scratch/e2e-probe && cat /scratch/e2e-probe"], 30)
    try:
        assert result.exit_code == 0 and result.stdout == "probe\n", result.stderr
        assert (Path(bare.scratch) / "e2e-probe").read_text() == "probe\n"
        assert not (Path(bare.rootfs) / "scratch" / "e2e-probe").exists()
    finally:
        (Path(bare.scratch) / "e2e-probe").unlink(missing_ok=True)


def _ok_trials(env: dict[str, str], run_id: str) -> int:
    path = Path(env["HOSTBENCH_RESULTS_DIR"]) / "hostbench.sqlite"
    with sqlite3.connect(path) as db:
        return db.execute("SELECT count(*) FROM trials WHERE run_id = ? AND status = 'ok'",
                          (run_id,)).fetchone()[0]


def _run_reaching(env: dict[str, str], before: str | None, proc: subprocess.Popen,
                  reached: Callable[[StoredRun], bool]) -> str | None:
    """The run ``proc`` started (the newest after ``before``) once ``reached`` holds for it;
    None if ``proc`` ended first or 600 s went by."""
    def check() -> str | None:
        with store(env) as s:
            run_id = s.latest_run_id()
            if run_id != before and run_id is not None and reached(s.load(run_id)):
                return run_id
        if proc.poll() is not None:
            raise AssertionError(f"fab ended (exit code {proc.returncode}) before the point "
                                 "this test acts at")
        return None

    return wait_until(check, 600, 0.2)


def test_a_killed_run_keeps_its_trials_and_resume_completes_it(env, e2e_spec):
    with store(env) as s:
        before = s.latest_run_id()
    argv = fab_argv(e2e_spec, "benchmark", "--workload", "cpu-sysbench", "--repeat", "2",
                    "--warmup", "0")
    proc = subprocess.Popen(argv, cwd=PROJECT_ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    run_id = _run_reaching(env, before, proc, lambda run: _ok_trials(env, run.record.id) >= 2)
    assert run_id is not None and proc.poll() is None, "the run ended before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    kept = _ok_trials(env, run_id)
    with store(env) as s:
        assert s.get_run(run_id).status == "running"  # killed: nobody could mark it
        assert 2 <= kept < len(s.get_run(run_id).plan)
    result = fab(env, e2e_spec, "benchmark", "--resume", run_id)
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"resuming run {run_id}" in result.stdout
    with store(env) as s:
        stored = s.load(run_id)
    assert stored.record.status == "complete" and stored.missing() == []
    assert _ok_trials(env, run_id) == len(stored.record.plan) == 6
    assert stored.record.options.workloads == ("cpu-sysbench",)


def test_a_target_that_dies_mid_run_is_recorded_and_the_others_go_on(env, e2e_spec, stack,
                                                                     changed_container):
    argv = fab_argv(e2e_spec, "benchmark", "--workload", "cpu-sysbench", "--env", "bare,container",
                    "--repeat", "3", "--warmup", "0")
    proc = subprocess.Popen(argv, cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    with store(env) as s:
        before = s.latest_run_id()
    run_id = _run_reaching(env, before, proc,
                           lambda run: any(t.env == "container" for t in run.trials))
    changed_container.kill()
    out, err = proc.communicate(timeout=600)
    try:
        assert proc.returncode == 1 and "fab benchmark --resume" in err
        assert "overhead vs bare" in out  # the summary of what was measured is still printed
        with store(env) as s:
            trials = s.load(run_id).trials
        by_env = {e: [t.status for t in trials if t.env == e] for e in ("bare", "container")}
        assert by_env["bare"] == ["ok"] * 3
        assert by_env["container"][0] == "ok" and "failed" in by_env["container"]
        assert any("unreachable" in (t.error or "") for t in trials if t.env == "container")
    finally:
        changed_container.start()
        wait_for_ssh("127.0.0.1", e2e_spec.ssh_port, "root", access(stack),
                     CONTAINER_SSH_TIMEOUT_S, "container")


@pytest.mark.skipif(systemd_runs_services(), reason="dockerd is systemd's to restart here")
@pytest.mark.disrupts_daemons
def test_a_docker_engine_restart_mid_run_costs_only_container_trials_and_resume_completes(
        env, e2e_spec, stack):
    argv = fab_argv(e2e_spec, "benchmark", "--workload", "cpu-sysbench", "--env", "bare,container",
                    "--repeat", "3", "--warmup", "0")
    with store(env) as s:
        before = s.latest_run_id()
    proc = subprocess.Popen(argv, cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    run_id = _run_reaching(env, before, proc, lambda run: any(
        t.env == "container" and t.status == "ok" for t in run.trials))
    subprocess.run(["pkill", "-x", "dockerd"], check=True)  # the engine goes away mid-run
    try:
        _, err = proc.communicate(timeout=600)
        assert proc.returncode == 1 and f"--resume {run_id}" in err
        with store(env) as s:
            trials = s.load(run_id).trials
        assert [t.status for t in trials if t.env == "bare"] == ["ok"] * 3
        assert "failed" in [t.status for t in trials if t.env == "container"]
    finally:
        start_again(DAEMONS[0])  # the container comes back with it (restart unless-stopped)
        wait_for_ssh("127.0.0.1", e2e_spec.ssh_port, "root", access(stack),
                     CONTAINER_SSH_TIMEOUT_S, "container")
    resumed = fab(env, e2e_spec, "benchmark", "--resume", run_id)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    with store(env) as s:
        assert s.load(run_id).missing() == [] and s.get_run(run_id).status == "complete"


@pytest.mark.skipif(systemd_runs_services(), reason="libvirtd is systemd's to restart here")
@pytest.mark.disrupts_daemons
def test_libvirtd_stopped_mid_run_costs_only_vm_trials_and_resume_completes(env, e2e_spec, stack):
    """libvirtd goes away while the VM is paused for a bare-metal trial: QEMU runs on, but
    nobody can resume the VM, so its trials fail at once (not after the trial timeout) while
    bare metal goes on; with libvirtd back, `--resume` resumes the VM and measures the rest."""
    argv = fab_argv(e2e_spec, "benchmark", "--workload", "cpu-sysbench", "--env", "bare,vm",
                    "--repeat", "2", "--warmup", "0")
    with store(env) as s:
        before = s.latest_run_id()
    watch = libvirt.open("qemu:///system")
    domain = watch.lookupByName(stack.targets["vm"].domain)
    proc = subprocess.Popen(argv, cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: domain.state()[0] == libvirt.VIR_DOMAIN_PAUSED
                   or proc.poll() is not None, 600, 0.1)
        assert domain.state()[0] == libvirt.VIR_DOMAIN_PAUSED, "the VM was never paused"
        watch.close()
        subprocess.run(["pkill", "-x", "libvirtd"], check=True)
        _, err = proc.communicate(timeout=600)
        with store(env) as s:
            run_id = s.latest_run_id()
            trials = s.load(run_id).trials
        assert run_id != before and proc.returncode == 1 and f"--resume {run_id}" in err
        assert [t.status for t in trials if t.env == "bare"] == ["ok", "ok"]
        failed = [t for t in trials if t.env == "vm" and t.status == "failed"]
        assert failed and all("is paused and cannot be resumed" in t.error for t in failed)
    finally:
        proc.kill()
        start_again(DAEMONS[2])
    resumed = fab(env, e2e_spec, "benchmark", "--resume", run_id)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    with store(env) as s:
        assert s.load(run_id).missing() == [] and s.get_run(run_id).status == "complete"
    back = libvirt.open("qemu:///system")
    try:
        state = back.lookupByName(stack.targets["vm"].domain).state()[0]
        assert state == libvirt.VIR_DOMAIN_RUNNING
    finally:
        back.close()


def test_the_report_of_the_run_opens_in_headless_chromium(smoke_run, env):
    """No console errors, every plot decoded and drawn, the evidence there (a stacked bar of
    CPU states per workload, its tables, a line beside each slower verdict); a full-page
    screenshot is kept."""
    from playwright.sync_api import sync_playwright

    _, run_id = smoke_run
    report = Path(env["HOSTBENCH_RESULTS_DIR"]) / "runs" / run_id / "report.html"
    assert report.exists()
    artifacts = PROJECT_ROOT / "test-artifacts"
    artifacts.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            problems: list[str] = []
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url}"))
            page.goto(report.as_uri())
            images = page.evaluate("Array.from(document.images).map(i => [i.complete, "
                                   "i.naturalWidth, i.getBoundingClientRect().height])")
            bars = page.locator("#evidence figure.cpu-split img").count()
            tables = page.locator("#evidence table.evidence").count()
            slower = page.locator("table.headline td:has(> .verdict.v-slower)")
            beside = [slower.nth(i).locator("div.evidence").count()
                      for i in range(slower.count())]
            page.screenshot(path=str(artifacts / "report.png"), full_page=True)
        finally:
            browser.close()
    smoke = len([w for w in load_catalogue().values() if w.in_suite("smoke")])
    assert problems == []
    assert len(images) >= smoke
    assert all(done and width > 0 and height > 0 for done, width, height in images)
    assert bars == smoke and tables >= smoke  # every workload, each environment against bare
    assert beside == [1] * len(beside)
    assert (artifacts / "report.png").stat().st_size > 10_000
