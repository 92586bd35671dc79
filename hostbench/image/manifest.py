"""The image manifest: what was built, where it is, and what is inside."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from hostbench.datafiles import load_json_object
from hostbench.fields import FieldReader


@dataclass(frozen=True)
class ImageManifest:
    hash: str
    docker_tag: str
    suite: str
    mirror: str
    built_at: str
    rootfs: str
    disk: str
    kernel: str
    initrd: str
    kernel_cmdline: str
    packages: dict[str, str]
    binaries: dict[str, str]

    def write(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=2, sort_keys=True) + "\n")


def load_manifest(path: Path) -> ImageManifest:
    r = FieldReader(str(path), load_json_object(path, ": run scripts/build-image"))
    fields = {k: r.string(k) for k in (
        "hash", "docker_tag", "suite", "mirror", "built_at", "rootfs", "disk", "kernel", "initrd",
        "kernel_cmdline")}
    for key in ("packages", "binaries"):
        value = r.raw(key)
        if not isinstance(value, dict):
            raise r.fail(key, "must be an object of name -> string")
        fields[key] = value
    r.done()
    return ImageManifest(**fields)
