"""Loading YAML files into plain mappings, with errors that name the file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from hostbench.errors import ConfigError


def load_mapping(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError(str(path), "(file)", "does not exist") from None
    except yaml.YAMLError as exc:
        raise ConfigError(str(path), "(file)", f"is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(str(path), "(top level)", "must be a mapping of keys to values")
    return data
