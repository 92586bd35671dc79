"""The image build's steps fail naming what failed."""

from __future__ import annotations

from pathlib import Path

import pytest

from hostbench.image.build import _docker_import
from hostbench.shell import CommandError


def test_a_docker_import_that_fails_is_named_not_the_tar_feeding_it(tmp_path, monkeypatch):
    """With the Docker engine down, `docker import` fails and tar dies of the closed pipe: the
    message must say what the engine said, not that tar failed."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    docker = bin_dir / "docker"
    docker.write_text("#!/bin/sh\necho 'Cannot connect to the Docker daemon at "
                      "unix:///var/run/docker.sock. Is the docker daemon running?'\nexit 1\n")
    docker.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{Path('/usr/bin')}:{Path('/bin')}")
    rootfs = tmp_path / "rootfs"
    rootfs.mkdir()
    (rootfs / "big").write_bytes(b"x" * (4 << 20))  # more than a pipe holds: tar gets EPIPE
    with pytest.raises(CommandError) as info:
        _docker_import(rootfs, "hostbench:test", tmp_path / "build.log")(lambda _: None)
    assert str(info.value).startswith("docker failed with exit code 1")
    assert "Is the docker daemon running?" in str(info.value)
