"""The image recipe (image/recipe.yaml + image/overlay/) and its content hash."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from hostbench.datafiles import load_mapping
from hostbench.fields import FieldReader
from hostbench.paths import IMAGE_RECIPE_DIR

# Bump when the build steps change in a way that changes the artifacts.
BUILD_FORMAT = 1


@dataclass(frozen=True)
class Recipe:
    suite: str
    variant: str
    packages: list[str]
    benchmark_binaries: list[str]
    enable_units: list[str]
    vm_filesystem_mib: int
    kernel_cmdline: str
    overlay_dir: Path
    source: Path

    def content_hash(self) -> str:
        """sha256 of the recipe file, each overlay file (path, mode, bytes) and the build format."""
        h = hashlib.sha256(f"format={BUILD_FORMAT}\n".encode())
        h.update(self.source.read_bytes())
        for path in sorted(p for p in self.overlay_dir.rglob("*") if p.is_file()):
            rel = path.relative_to(self.overlay_dir).as_posix()
            h.update(f"\n{rel} {path.stat().st_mode & 0o777:o}\n".encode())
            h.update(path.read_bytes())
        return h.hexdigest()


def load_recipe(directory: Path = IMAGE_RECIPE_DIR) -> Recipe:
    source = directory / "recipe.yaml"
    r = FieldReader(str(source), load_mapping(source))
    recipe = Recipe(
        suite=r.string("suite"),
        variant=r.string("variant", "minbase"),
        packages=r.string_list("packages"),
        benchmark_binaries=r.string_list("benchmark_binaries"),
        enable_units=r.string_list("enable_units"),
        vm_filesystem_mib=r.integer("vm_filesystem_mib", minimum=512),
        kernel_cmdline=r.string("kernel_cmdline"),
        overlay_dir=directory / "overlay",
        source=source,
    )
    r.done()
    for binary in recipe.benchmark_binaries:
        if not binary.startswith("/"):
            raise r.fail("benchmark_binaries", f"{binary!r} must be an absolute path")
    return recipe
