"""Where no udev ran, the KVM device gets the group and mode udev would give it."""

from __future__ import annotations

import grp
import os
import stat

import pytest

from hostbench.provision.daemons import kvm_device_access


@pytest.fixture
def device(tmp_path):
    path = tmp_path / "kvm"
    path.touch(mode=0o600)
    os.chmod(path, 0o600)
    return path


def test_the_device_becomes_readable_and_writable_by_qemus_group(device):
    group = grp.getgrgid(os.getgid()).gr_name
    assert "set to group" in kvm_device_access(device, group)
    info = device.stat()
    assert info.st_gid == os.getgid()
    assert stat.S_IMODE(info.st_mode) == 0o660
    assert "already" in kvm_device_access(device, group)


def test_nothing_changes_without_the_group_or_the_device(device, tmp_path):
    assert "no group" in kvm_device_access(device, "no-such-group-hostbench")
    assert stat.S_IMODE(device.stat().st_mode) == 0o600
    assert kvm_device_access(tmp_path / "absent") == "no KVM device"
