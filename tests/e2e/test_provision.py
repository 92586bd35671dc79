"""The built image boots as a container and as a (TCG) VM through the direct module, pinned and
sized as the stack says, reachable with the stack key; `down` leaves nothing behind."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from xml.etree import ElementTree

import docker
import libvirt
import pytest

from hostbench.image.manifest import ImageManifest
from hostbench.paths import IMAGE_RECIPE_DIR
from hostbench.reach.ssh import StackAccess, connection
from hostbench.stack.keys import known_hosts_file
from hostbench.stack.targets import Target, load_targets_file, saved_targets_file
from tests.e2e.conftest import E2E_STACK


def _run(target: Target, key: str, command: str) -> str:
    assert target.host and target.port and target.user
    access = StackAccess(key, known_hosts_file(E2E_STACK))
    with connection(target.host, target.port, target.user, access) as conn:
        return conn.run(command, hide=True, in_stream=False).stdout


def test_the_vms_initrd_carries_the_listed_drivers_and_little_else(image: ImageManifest):
    """What a TCG VM unpacks and probes before its root is mounted: the drivers listed in the
    image's overlay and what they depend on (18 modules, 6 MB), not most of the kernel's
    (35 MB, 7 s more of each boot)."""
    listed = (IMAGE_RECIPE_DIR / "overlay/etc/initramfs-tools/modules").read_text().split()
    rootfs = Path(image.rootfs)
    (initrd,) = (rootfs / "boot").glob("initrd.img-*")
    files = subprocess.run(["chroot", str(rootfs), "lsinitramfs", f"/boot/{initrd.name}"],
                           capture_output=True, text=True, check=True).stdout.split()
    modules = {Path(f).name.removesuffix(".ko") for f in files if f.endswith(".ko")}
    assert set(listed) <= modules and len(modules) < 40, sorted(modules)


def test_targets_document_names_all_three_environments(stack, e2e_spec):
    assert set(stack.targets) == {"bare", "vm", "container"}
    assert stack.targets["container"].host == "127.0.0.1"
    assert stack.targets["vm"].accel == e2e_spec.accel
    saved = saved_targets_file(e2e_spec.stack)
    assert saved.stat().st_mode & 0o777 == 0o600
    assert load_targets_file(saved).targets == stack.targets


@pytest.mark.parametrize("env", ["vm", "container"])
def test_ssh_with_the_stack_key_sees_the_specified_cpus_and_memory(stack, e2e_spec, env):
    target = stack.targets[env]
    out = _run(target, stack.ssh_private_key,
               "nproc; grep MemTotal /proc/meminfo; "
               "cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null "
               "|| cat /sys/fs/cgroup/memory.max; systemd-detect-virt || true")
    lines = out.splitlines()
    assert int(lines[0]) == len(e2e_spec.cores)
    mem_total_kib = int(re.search(r"MemTotal:\s+(\d+)", out).group(1))
    spec_kib = e2e_spec.memory_mib * 1024
    if env == "vm":
        # the guest kernel reserves part of its RAM: accept 85-100% of what the VM was given
        assert 0.85 * spec_kib <= mem_total_kib <= spec_kib
        assert "qemu" in out or "kvm" in out
    else:
        assert int(lines[2]) == e2e_spec.memory_mib * 1024 * 1024  # cgroup limit, exact
        assert "docker" in out


def test_container_is_pinned_and_ssh_bound_to_loopback(stack, e2e_spec, e2e_plan):
    (ctr,) = e2e_plan.containers
    info = docker.from_env().api.inspect_container(ctr.name)
    assert info["HostConfig"]["CpusetCpus"] == e2e_spec.cpuset
    assert info["HostConfig"]["Memory"] == info["HostConfig"]["MemorySwap"]
    bindings = info["HostConfig"]["PortBindings"]["22/tcp"]
    assert bindings == [{"HostIp": "127.0.0.1", "HostPort": str(e2e_spec.ssh_port)}]
    out = _run(stack.targets["container"], stack.ssh_private_key,
               "grep Cpus_allowed_list /proc/self/status")
    assert out.split()[-1] == e2e_spec.cpuset


def test_vm_vcpus_and_emulator_are_pinned(stack, e2e_spec, e2e_plan):
    (vm,) = e2e_plan.vms
    domain = libvirt.open(e2e_plan.libvirt_uri).lookupByName(vm.domain)
    host_cpus = len(domain.vcpuPinInfo(0)[0])
    expected = tuple(i in e2e_spec.cores for i in range(host_cpus))
    assert all(pins == expected for pins in domain.vcpuPinInfo(0))
    assert domain.emulatorPinInfo(0) == expected
    assert domain.vcpusFlags(0) == len(e2e_spec.cores)
    assert domain.maxMemory() == e2e_spec.memory_mib * 1024


def test_the_vm_disk_bypasses_the_hosts_page_cache_like_the_others(stack, e2e_plan):
    """cache=none: the guest's O_DIRECT reads reach the disk, not the host's page cache."""
    (vm,) = e2e_plan.vms
    xml = libvirt.open(e2e_plan.libvirt_uri).lookupByName(vm.domain).XMLDesc(0)
    root = next(d for d in ElementTree.fromstring(xml).iter("disk") if d.get("device") == "disk")
    assert root.find("driver").get("cache") == "none"


def test_the_vm_keeps_time_with_a_real_clocksource_not_jiffies(stack):
    """The provider's domain has ACPI, so the guest finds HPET and the ACPI PM timer; without
    them its TSC is marked unstable and every timing rests on a jiffies clock."""
    out = _run(stack.targets["vm"], stack.ssh_private_key,
               "cat /sys/devices/system/clocksource/clocksource0/current_clocksource "
               "/sys/devices/system/clocksource/clocksource0/available_clocksource")
    current, available = out.splitlines()[:2]
    assert "jiffies" not in current, out
    assert {"hpet", "acpi_pm"} & set(available.split()), out


def test_password_login_is_refused(stack):
    out = _run(stack.targets["vm"], stack.ssh_private_key,
               "sshd -T | grep -Ei '^(passwordauthentication|permitrootlogin)'; "
               "passwd -S root | cut -d' ' -f2")
    assert "passwordauthentication no" in out
    assert "permitrootlogin without-password" in out or "prohibit-password" in out
    assert out.split()[-1] == "L"  # root's password is locked
