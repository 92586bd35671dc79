"""Build the one rootfs and package it three ways, each artifact cached by the recipe's hash."""

from __future__ import annotations

import datetime
import hashlib
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from rich.console import Console

from hostbench.image.manifest import CONTAINER_INIT, ImageManifest, load_manifest
from hostbench.image.mirror import debian_mirror
from hostbench.image.recipe import Recipe, load_recipe
from hostbench.paths import build_dir
from hostbench.shell import CommandError, output, run_logged

console = Console(stderr=True)
Step = Callable[[Callable[[str], None]], None]


def docker_tag_for(content_hash: str) -> str:
    return f"hostbench:{content_hash[:16]}"


def _step(title: str, work: Step) -> None:
    """Run one long step under a spinner that shows its latest output line and elapsed time."""
    start = time.monotonic()
    with console.status(f"[bold]{title}[/]") as status:

        def show(line: str) -> None:
            elapsed = time.monotonic() - start
            status.update(f"[bold]{title}[/] [dim]{elapsed:5.0f}s  {line[:90]}[/]")

        work(show)
    console.print(f"[green]done[/] {title} ({time.monotonic() - start:.0f}s)")


def _chroot(rootfs: Path, *argv: str) -> list[str]:
    return ["chroot", str(rootfs), *argv]


_UNATTENDED = {"DEBIAN_FRONTEND": "noninteractive"}
_NO_INITRD = {"INITRD": "No"}
"""While debootstrap installs, no initrd is made when the kernel and initramfs-tools are
configured (two, 37 s of its 139 s): the configure step makes the one the VM boots."""


def _debootstrap(recipe: Recipe, mirror: str, target: Path, log: Path) -> Step:
    def work(show: Callable[[str], None]) -> None:
        run_logged(
            [
                "debootstrap",
                f"--variant={recipe.variant}",
                "--components=main",
                f"--include={','.join(recipe.packages)}",
                recipe.suite,
                str(target),
                mirror,
            ],
            log,
            show,
            env={**os.environ, **_UNATTENDED, **_NO_INITRD},
        )

    return work


def _configure(recipe: Recipe, rootfs: Path, log: Path) -> Step:
    def work(show: Callable[[str], None]) -> None:
        shutil.copytree(recipe.overlay_dir, rootfs, dirs_exist_ok=True, symlinks=True)
        for key in rootfs.glob("etc/ssh/ssh_host_*"):
            key.unlink()  # each environment makes its own host keys at first start
        (rootfs / "etc/machine-id").write_text("")  # a fresh id per boot, as on a cloud image
        env = {**os.environ, **_UNATTENDED}
        run_logged(_chroot(rootfs, "usermod", "--lock", "root"), log, show)
        run_logged(_chroot(rootfs, "systemctl", "enable", *recipe.enable_units), log, show)
        if recipe.disable_units:
            run_logged(_chroot(rootfs, "systemctl", "disable", *recipe.disable_units), log, show)
        run_logged(_chroot(rootfs, "update-initramfs", "-c", "-k", "all"), log, show, env=env)
        run_logged(_chroot(rootfs, "apt-get", "clean"), log, show)

    return work


def _boot_files(rootfs: Path) -> tuple[Path, Path]:
    kernels = sorted((rootfs / "boot").glob("vmlinuz-*"))
    initrds = sorted((rootfs / "boot").glob("initrd.img-*"))
    if not kernels or not initrds:
        raise CommandError(
            f"no kernel/initrd in {rootfs}/boot: is linux-image-amd64 in the recipe?"
        )
    return kernels[-1], initrds[-1]


def _vm_disks(recipe: Recipe, rootfs: Path, disk: Path, raw_disk: Path, log: Path) -> Step:
    """The ext4 filesystem of the tree as a raw disk (sparse; for VMs with a raw disk) and as
    qcow2 (the base of the overlays)."""
    def work(show: Callable[[str], None]) -> None:
        raw = raw_disk.with_suffix(".partial-raw")
        raw.unlink(missing_ok=True)
        run_logged(
            [
                "mkfs.ext4",
                "-q",
                "-F",
                "-L",
                "hostbench-root",
                "-d",
                str(rootfs),
                str(raw),
                f"{recipe.vm_filesystem_mib}M",
            ],
            log,
            show,
        )
        partial = disk.with_suffix(".partial")
        run_logged(
            ["qemu-img", "convert", "-p", "-f", "raw", "-O", "qcow2", str(raw), str(partial)],
            log,
            show,
        )
        partial.rename(disk)
        raw.rename(raw_disk)

    return work


def _docker_image_exists(tag: str) -> bool:
    return subprocess.run(["docker", "image", "inspect", tag], capture_output=True).returncode == 0


def _docker_import(rootfs: Path, tag: str, log: Path) -> Step:
    def work(show: Callable[[str], None]) -> None:
        tar = subprocess.Popen(
            ["tar", "-C", str(rootfs), "--numeric-owner", "-cf", "-", "."], stdout=subprocess.PIPE
        )
        try:
            run_logged(["docker", "import", "--change", f'CMD ["{CONTAINER_INIT}"]', "--change",
                        "EXPOSE 22", "-", tag], log, show, stdin=tar.stdout)
        finally:  # a failed import closes the pipe: tar's failure then is only its echo
            if tar.stdout:
                tar.stdout.close()
            tar_failed = tar.wait() != 0
        if tar_failed:
            raise CommandError(f"tar of {rootfs} failed; see {log}")

    return work


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _packages(rootfs: Path) -> dict[str, str]:
    lines = output(_chroot(rootfs, "dpkg-query", "-W", "-f", "${Package} ${Version}\n"))
    return dict(line.split(" ", 1) for line in lines.splitlines() if " " in line)


def binary_hashes(rootfs: Path, binaries: list[str]) -> dict[str, str]:
    hashes = {}
    for binary in binaries:
        path = rootfs / binary.lstrip("/")
        if not path.is_file():
            raise CommandError(f"benchmark binary {binary} is missing from {rootfs}")
        hashes[binary] = _sha256(path.resolve() if not path.is_symlink() else path)
    return hashes


def build_image(recipe: Recipe | None = None, force: bool = False) -> ImageManifest:
    """Build (or find in the cache) every artifact; return the manifest. Prints progress."""
    recipe = recipe or load_recipe()
    content_hash = recipe.content_hash()
    out = build_dir() / "images" / content_hash
    manifest_path = out / "manifest.json"
    tag = docker_tag_for(content_hash)
    log = out.with_suffix(".log")
    console.print(f"image recipe {recipe.source} -> content hash [bold]{content_hash[:16]}[/]")
    if force and out.exists():
        shutil.rmtree(out)

    if (
        manifest_path.is_file()
        and _docker_image_exists(tag)
        and all(Path(p).exists() for p in _artifact_paths(load_manifest(manifest_path)))
    ):
        console.print(
            f"[green]cache hit[/]: every artifact of {content_hash[:16]} is present in {out}"
        )
        _point_current(out)
        return load_manifest(manifest_path)

    mirror = debian_mirror(recipe.suite)
    rootfs, disk, raw_disk = out / "rootfs", out / "disk.qcow2", out / "disk.raw"
    if not (out / "rootfs.complete").exists():
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        log.unlink(missing_ok=True)
        _step(
            f"debootstrap {recipe.suite} from {mirror} ({len(recipe.packages)} packages)",
            _debootstrap(recipe, mirror, rootfs, log),
        )
        _step(
            "configure the tree (ssh, networkd, seed, initramfs)", _configure(recipe, rootfs, log)
        )
        (out / "rootfs.complete").touch()
    else:
        console.print(f"[green]cache hit[/]: rootfs {rootfs}")

    kernel_src, initrd_src = _boot_files(rootfs)
    kernel, initrd = out / "vmlinuz", out / "initrd.img"
    shutil.copyfile(kernel_src, kernel)
    shutil.copyfile(initrd_src, initrd)
    if not (disk.exists() and raw_disk.exists()):
        _step(f"VM disks: ext4 from the tree -> {raw_disk.name}, {disk.name}",
              _vm_disks(recipe, rootfs, disk, raw_disk, log))
    if not _docker_image_exists(tag):
        _step(f"Docker image: import the tree as {tag}", _docker_import(rootfs, tag, log))

    manifest = ImageManifest(
        hash=content_hash,
        docker_tag=tag,
        suite=recipe.suite,
        mirror=mirror,
        built_at=datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        rootfs=str(rootfs),
        disk=str(disk),
        raw_disk=str(raw_disk),
        kernel=str(kernel),
        initrd=str(initrd),
        kernel_cmdline=recipe.kernel_cmdline,
        packages=_packages(rootfs),
        binaries=binary_hashes(rootfs, recipe.benchmark_binaries),
    )
    manifest.write(manifest_path)
    _point_current(out)
    console.print(f"manifest: {manifest_path}")
    return manifest


def _artifact_paths(manifest: ImageManifest) -> list[str]:
    return [manifest.rootfs, manifest.disk, manifest.raw_disk, manifest.kernel, manifest.initrd]


def _point_current(out: Path) -> None:
    link = out.parent / "current"
    tmp = out.parent / f".current.{os.getpid()}.tmp"  # builders running at once do not collide
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(out.name)
    tmp.replace(link)
