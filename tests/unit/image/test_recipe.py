"""The image recipe, its content hash and the mirror taken from the host's apt sources."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from hostbench.errors import ConfigError, HostbenchError
from hostbench.image.mirror import debian_mirror
from hostbench.image.recipe import load_recipe
from hostbench.paths import IMAGE_RECIPE_DIR


@pytest.fixture
def recipe_dir(tmp_path: Path) -> Path:
    target = tmp_path / "image"
    shutil.copytree(IMAGE_RECIPE_DIR, target)
    return target


def test_shipped_recipe_has_the_benchmark_tools():
    recipe = load_recipe()
    for tool in ("sysbench", "fio", "iperf3", "stress-ng", "hpcc", "sockperf", "redis-server",
                 "openssh-server", "linux-image-amd64"):
        assert tool in recipe.packages
    assert "/usr/bin/sysbench" in recipe.benchmark_binaries


def test_hash_is_stable_and_changes_with_recipe_or_overlay(recipe_dir):
    first = load_recipe(recipe_dir).content_hash()
    assert load_recipe(recipe_dir).content_hash() == first
    (recipe_dir / "overlay/etc/hostname").write_text("other\n")
    second = load_recipe(recipe_dir).content_hash()
    assert second != first
    (recipe_dir / "overlay/usr/local/sbin/hostbench-seed").chmod(0o700)
    assert load_recipe(recipe_dir).content_hash() != second


def test_recipe_errors_name_the_field(recipe_dir):
    path = recipe_dir / "recipe.yaml"
    path.write_text(path.read_text().replace("vm_filesystem_mib: 4096", "vm_filesystem_mib: 12"))
    with pytest.raises(ConfigError, match=r"recipe\.yaml: vm_filesystem_mib: input should be "
                                          r"greater than or equal to 512"):
        load_recipe(recipe_dir)


def test_mirror_from_one_line_and_deb822_sources(tmp_path):
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list").write_text(
        "# comment\n"
        "deb [arch=amd64] http://security.example/debian-security bookworm-security main\n")
    (tmp_path / "sources.list.d/debian.sources").write_text(
        "Types: deb\nURIs: http://mirror.example/debian\nSuites: bookworm bookworm-updates\n"
        "Components: main\n\nTypes: deb-src\nURIs: http://src.example/debian\nSuites: bookworm\n")
    assert debian_mirror("bookworm", tmp_path) == "http://mirror.example/debian"
    with pytest.raises(HostbenchError, match="no apt source for Debian suite 'trixie'"):
        debian_mirror("trixie", tmp_path)
