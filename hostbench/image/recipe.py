"""The image recipe (image/recipe.yaml + image/overlay/) and its content hash."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Annotated

from pydantic import Field, field_validator

from hostbench.datafiles import load_mapping
from hostbench.paths import IMAGE_RECIPE_DIR
from hostbench.record_base import NotBool, Record, validated

# Bump when the build steps change in a way that changes the artifacts.
BUILD_FORMAT = 3

NonEmpty = Annotated[str, Field(min_length=1)]


class Recipe(Record):
    suite: NonEmpty
    variant: NonEmpty = "minbase"
    packages: list[NonEmpty]
    benchmark_binaries: list[NonEmpty]
    enable_units: list[NonEmpty]
    disable_units: list[NonEmpty] = Field(default_factory=list)
    vm_filesystem_mib: Annotated[int, Field(ge=512), NotBool]
    kernel_cmdline: NonEmpty
    overlay_dir: Path
    source: Path

    @field_validator("benchmark_binaries")
    @classmethod
    def _absolute(cls, binaries: list[str]) -> list[str]:
        for binary in binaries:
            if not binary.startswith("/"):
                raise ValueError(f"{binary!r} must be an absolute path")
        return binaries

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
    data = load_mapping(source)
    return validated(Recipe, {**data, "overlay_dir": directory / "overlay", "source": source},
                     str(source))
