"""The image manifest: what was built, where it is, and what is inside."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import Field

from hostbench.datafiles import load_json_object
from hostbench.record_base import Record, validated

CONTAINER_INIT = "/usr/local/sbin/hostbench-container-init"
"""The image's command in a container (from image/overlay): its host keys, then sshd in the
foreground; arguments go to sshd."""


class ImageManifest(Record):
    hash: Annotated[str, Field(pattern=r"^[0-9a-f]*$")]
    """The recipe's content hash (hex): it names directories that delivery replaces."""
    docker_tag: str
    suite: str
    mirror: str
    built_at: str
    rootfs: str
    disk: str  # qcow2, the base of the VMs' overlays
    raw_disk: str  # the same filesystem as a raw (sparse) disk
    kernel: str
    initrd: str
    kernel_cmdline: str
    packages: dict[str, str]
    binaries: dict[str, str]
    """sha256 of each benchmark binary, by absolute path inside the tree."""

    def write(self, path: Path) -> None:
        path.write_text(self.model_dump_json(indent=2) + "\n")


def load_manifest(path: Path) -> ImageManifest:
    return validated(ImageManifest, load_json_object(path, ": run scripts/build-image"), str(path))
