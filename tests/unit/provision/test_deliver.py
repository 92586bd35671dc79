"""The image's artifacts on a remote host: sent when missing there, never twice."""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace

import pytest

from hostbench.image.manifest import load_manifest
from hostbench.provision.deliver import (
    DeliveryError,
    deliver_docker_image,
    deliver_tree,
    remove_empty_dirs,
)
from hostbench.provision.plan import resource_plan
from hostbench.stack.host import LocalHost
from hostbench.stack.spec import StackSpec
from tests.unit.fakes import write_manifest

TAG = "hostbench:ffffffffffffffff"


class Images:
    def __init__(self, have: dict[str, str]) -> None:
        self.have = have
        self.loaded: list[bytes] = []

    def get(self, tag: str) -> SimpleNamespace:
        import docker.errors  # loaded by the code under test too: not at every collection

        if tag not in self.have:
            raise docker.errors.ImageNotFound(tag)
        return SimpleNamespace(id=self.have[tag],
                               save=lambda named: iter([b"tar of " + tag.encode()]))

    def load(self, data) -> None:
        self.loaded.append(b"".join(data))
        self.have[TAG] = "sha256:same"


def _engine(have: dict[str, str]) -> SimpleNamespace:
    return SimpleNamespace(images=Images(have))


def test_the_docker_image_is_loaded_only_where_the_host_lacks_it():
    local, remote = _engine({TAG: "sha256:same"}), _engine({})
    assert deliver_docker_image(lambda: local, remote, TAG, print)
    assert remote.images.loaded == [b"tar of " + TAG.encode()]

    def no_engine_here():
        raise AssertionError("this machine's engine is not needed when the host has the image")

    assert not deliver_docker_image(no_engine_here, remote, TAG, print)
    assert remote.images.loaded == [b"tar of " + TAG.encode()]  # the tag is the content hash


def test_a_docker_image_missing_on_both_sides_is_named():
    with pytest.raises(DeliveryError, match="missing here too: run scripts/build-image"):
        deliver_docker_image(lambda: _engine({}), _engine({}), TAG, print)


def test_the_tree_is_sent_once_with_owners_and_modes(sshd, tmp_path):
    manifest = load_manifest(write_manifest(tmp_path))
    tree = Path(manifest.rootfs)
    (tree / "usr/bin").mkdir(parents=True)
    (tree / "usr/bin/tool").write_text("#!/bin/sh\n")
    (tree / "usr/bin/tool").chmod(0o4755)
    os.symlink("usr/bin", tree / "bin")
    spec = StackSpec(stack="lab", cores=(1,), memory_mib=1024, accel="tcg", host=sshd.destination,
                     host_port=sshd.port, host_identity_file=str(sshd.client_key),
                     host_dir=str(tmp_path / "there"))
    plan = resource_plan(spec, manifest)
    shown: list[str] = []
    assert deliver_tree(spec.machine, plan, shown.append)
    sent = Path(plan.rootfs)
    assert sent == tmp_path / "there/images/ffffffffffffffff/rootfs"
    assert (sent / "usr/bin/tool").stat().st_mode & 0o7777 == 0o4755
    assert os.readlink(sent / "bin") == "usr/bin"
    assert shown == [f"sending the image tree to {spec.machine.label}:{sent.parent}"]
    assert not deliver_tree(spec.machine, plan, shown.append)  # checked by hash: nothing sent
    assert len(shown) == 1


def test_emptied_directories_go_others_stay_and_missing_ones_are_no_error(tmp_path: Path):
    """What `fab down --purge-image` leaves of the host directory, also when run twice."""
    root = tmp_path / "hostbench"
    (root / "images").mkdir(parents=True)
    (root / "other-stack" / "x").mkdir(parents=True)
    dirs = [root / "images", root / "scratch", root]  # scratch never made: the stack never went up
    remove_empty_dirs(LocalHost(), dirs)
    assert not (root / "images").exists() and (root / "other-stack" / "x").is_dir()
    (root / "other-stack" / "x").rmdir()
    (root / "other-stack").rmdir()
    remove_empty_dirs(LocalHost(), dirs)
    assert not root.exists()
    remove_empty_dirs(LocalHost(), dirs)  # nothing left to remove: still no error
