"""A stack of variants for real: gVisor, host network, no seccomp, overlay storage and a raw VM
disk with cache none and native I/O. Each is checked from inside (or from libvirt) to be what was
declared; parity and a short benchmark with its factor table go through; `fab down` leaves
nothing behind."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import docker
import libvirt
import pytest

from hostbench.analysis.evidence import RunEvidence
from hostbench.analysis.run_analysis import analyse_run
from hostbench.commands import provision
from hostbench.paths import PROJECT_ROOT
from hostbench.provision.plan import ResourcePlan, resource_plan
from hostbench.results.store import Store, StoredRun
from hostbench.stack.spec import load_stack_file
from hostbench.stack.targets import Targets, saved_targets_file
from tests.e2e.conftest import own_stack, ssh_output

FAB = str(Path(sys.executable).with_name("fab"))
STACK = "variants"
VARIANTS = [
    {"name": "vm-raw", "kind": "vm", "options": {"disk": "raw", "cache": "none", "io": "native"}},
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
def variants(image, e2e_state, tmp_path_factory) -> Iterator[tuple[ResourcePlan, Targets]]:
    with own_stack(tmp_path_factory.mktemp("stacks"), STACK, cores="[0]", ssh_port=2310,
                   network_cidr="192.168.152.0/24", environments=json.dumps(VARIANTS)
                   ) as (spec, targets):
        yield resource_plan(spec, image), targets


def test_gvisor_runs_its_own_kernel(variants):
    _, targets = variants
    assert "Starting gVisor" in ssh_output(targets, "gvisor", "dmesg")
    assert "Starting gVisor" not in ssh_output(targets, "container", "dmesg 2>&1 || true")


def test_the_hostnet_container_sees_the_hosts_interfaces(variants):
    plan, targets = variants
    host_interfaces = set(os.listdir("/sys/class/net"))
    inside = set(ssh_output(targets, "container-hostnet", "ls /sys/class/net").split())
    assert plan.network.bridge in inside and inside == host_interfaces
    assert plan.network.bridge not in ssh_output(targets, "container", "ls /sys/class/net").split()
    assert targets.targets["container-hostnet"].host_address == "127.0.0.1"


def test_the_unconfined_container_has_no_seccomp_filter(variants):
    _, targets = variants
    status = "grep '^Seccomp:' /proc/self/status"
    assert ssh_output(targets, "container-unconfined", status).split() == ["Seccomp:", "0"]
    assert ssh_output(targets, "container", status).split() == ["Seccomp:", "2"]


def test_the_overlay_containers_scratch_is_in_its_writable_layer(variants):
    plan, targets = variants
    mounts = "awk '$5 == \"/scratch\"' /proc/self/mountinfo"
    assert ssh_output(targets, "container-overlay", mounts).strip() == ""
    assert "/scratch" in ssh_output(targets, "container", mounts)
    ctr = next(c for c in plan.containers if c.env.name == "container-overlay")
    assert ctr.scratch_dir is None
    info = docker.from_env().api.inspect_container(ctr.name)
    assert not any(m["Destination"] == "/scratch" for m in info["Mounts"])


def test_the_raw_vm_has_a_raw_disk_with_cache_none_and_native_io(variants):
    plan, targets = variants
    (vm,) = plan.vms
    domain = libvirt.open(plan.libvirt_uri).lookupByName(vm.domain)
    driver = ET.fromstring(domain.XMLDesc(0)).find("devices/disk[@device='disk']/driver")
    assert (driver.get("type"), driver.get("cache"), driver.get("io")) == ("raw", "none",
                                                                          "native")
    assert ssh_output(targets, "vm-raw", "findmnt -n -o FSTYPE /").strip() == "ext4"


def test_parity_holds_for_every_variant(variants):
    env = {**os.environ, "COLUMNS": "200"}
    proc = subprocess.run([FAB, "parity", "--targets-file", str(saved_targets_file(STACK))],
                          cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "parity ok" in proc.stdout and "gvisor" in proc.stdout


def _benchmark(results: Path, workload: str, envs: str, rounds: int = 2
               ) -> tuple[str, StoredRun]:
    """`fab benchmark` of one smoke workload; its output and its run, all trials ok."""
    env = {**os.environ, "HOSTBENCH_RESULTS_DIR": str(results), "COLUMNS": "200"}
    argv = [FAB, "benchmark", "--targets-file", str(saved_targets_file(STACK)), "--suite",
            "smoke", "--workload", workload, "--repeat", str(rounds), "--warmup", "0",
            "--env", envs]
    proc = subprocess.run(argv, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True,
                          timeout=1200)
    with Store(results / "hostbench.sqlite") as store:
        run_id = store.latest_run_id()
        assert run_id is not None, proc.stdout[-3000:] + proc.stderr[-2000:]
        run = store.load(run_id)
    failed = [(t.workload, t.env, t.error) for t in run.failed_trials()]
    assert proc.returncode == 0 and not failed, (failed, proc.stdout[-3000:] + proc.stderr[-2000:])
    return proc.stdout, run


def test_a_short_benchmark_measures_each_factor_with_the_others_paused(variants, tmp_path):
    plan, _ = variants
    out, run = _benchmark(tmp_path, "kernel-stress-ng-switch",
                          "bare,container,container-unconfined,gvisor")
    assert "factor effects" in out
    assert "container-unconfined vs container" in out and "gvisor vs container" in out
    assert run.record.options.isolation == "pause"
    assert all(t.neighbours_cpu_s is not None for t in run.trials)
    for t in run.trials:  # each container's accounting names its own machinery
        got = {f.name for f in t.accounting}
        if t.env == "gvisor":
            assert {"host.shim", "host.runsc.sentry", "host.runsc.gofer"} <= got
        elif t.env != "bare":
            assert "host.shim" in got and "host.runsc.sentry" not in got, t.env
    # nothing is left paused: every container runs, the VM too
    client = docker.from_env()
    assert {client.containers.get(c.name).status for c in plan.containers} == {"running"}
    domain = libvirt.open(plan.libvirt_uri).lookupByName(plan.vms[0].domain)
    assert domain.state()[0] == libvirt.VIR_DOMAIN_RUNNING


def test_the_bridged_containers_iperf3_client_waits_more_per_gbit(variants, tmp_path):
    """veth, bridge and NAT against loopback: measured in one run, accounted per Gbit moved, in
    the iperf3 client's own voluntary switches. Alone: 3.97 on the bridge against 0.42 on the
    host's network; in CI, beside the other e2e group's TCG VM and network tests, both rise
    (24.9 against 14.5 on 2026-12-07) and only the order holds. The host's softirq time per
    Gbit is printed, not judged: it counts every core (in CI the same day 0.0132 bridged
    against 0.0134 once, where alone it read 0.0238 against 0.0119). (gVisor is left out: its
    netstack fails iperf3's 1-second runs now and then with 'unable to receive results:
    Resource temporarily unavailable'.)"""
    _, run = _benchmark(tmp_path, "net-iperf3", "bare,container,container-hostnet", rounds=3)
    evidence = analyse_run(run).evidence
    bridged, hostnet = (_per_gbit(evidence, env, "workload voluntary context switches")
                        for env in ("container", "container-hostnet"))
    softirq = [_per_gbit(evidence, env, "softirq on the host")
               for env in ("container", "container-hostnet")]
    print(f"client's voluntary switches per Gbit: bridge {bridged:.2f}, host network "
          f"{hostnet:.2f}; host softirq CPU-s per Gbit: {softirq[0]:.4f}, {softirq[1]:.4f}")
    assert bridged > hostnet


def _per_gbit(evidence: RunEvidence, env: str, label: str) -> float:
    """The figure ``label`` per Gbit iperf3 moved in ``env``, as the run's evidence gives it
    (the mean over its trials)."""
    found = evidence.of("net-iperf3", env)
    assert found is not None and found.work.label == "per Gbit"
    return next(row.other for row in found.rows if row.label == label)


def test_down_removes_every_variant(variants):
    plan, _ = variants
    provision.down(load_stack_file(STACK, Path(plan.spec.source)))
    client = docker.from_env()
    assert [c.name for c in client.containers.list(all=True)
            if c.labels.get("hostbench.stack") == STACK] == []
    conn = libvirt.open(plan.libvirt_uri)
    assert not [d for d in conn.listAllDomains() if d.name().startswith(plan.prefix)]
    assert not [p for p in conn.listAllStoragePools() if p.name() == plan.pool]
    assert not plan.pool_path.exists() and not plan.scratch_root.exists()
