"""JSON Schemas of the stack config, workload and reference files, for editors (YAML language
servers); generated from the same pydantic models that validate the files. Regenerate with
`.venv/bin/python -m hostbench.commands.schemas` after changing a model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hostbench.analysis.references import ReferenceFile
from hostbench.paths import SCHEMAS_DIR
from hostbench.run.parsers import PARSERS
from hostbench.run.workloads import WorkloadFile
from hostbench.stack.spec import PREFIX, StackConfig

DIALECT = "https://json-schema.org/draft/2020-12/schema"
STACK_SCHEMA = "stack.schema.json"
WORKLOAD_SCHEMA = "workload.schema.json"
REFERENCE_SCHEMA = "reference.schema.json"


def stack_schema() -> dict[str, Any]:
    """stacks/Pulumi.<stack>.yaml: a `config` mapping of `hostbench:*` keys."""
    config = StackConfig.model_json_schema()
    return {
        "$schema": DIALECT, "title": "hostbench stack config (stacks/Pulumi.<stack>.yaml)",
        "type": "object", "required": ["config"],
        "properties": {"config": {
            "type": "object", "additionalProperties": False,
            "properties": {PREFIX + k: v for k, v in config["properties"].items()},
            "required": [PREFIX + k for k in config.get("required", [])]}},
        **({"$defs": config["$defs"]} if "$defs" in config else {}),
    }


def workload_schema() -> dict[str, Any]:
    """workloads/<name>.yaml, with the parsers hostbench has."""
    schema = WorkloadFile.model_json_schema()
    schema["properties"]["parser"]["enum"] = sorted(PARSERS)
    return {"$schema": DIALECT, **schema, "title": "hostbench workload (workloads/<name>.yaml)"}


def reference_schema() -> dict[str, Any]:
    """references/<publication>.yaml: published figures set beside ours in reports."""
    return {"$schema": DIALECT, **ReferenceFile.model_json_schema(),
            "title": "hostbench published reference (references/<publication>.yaml)"}


def published() -> dict[str, dict[str, Any]]:
    return {STACK_SCHEMA: stack_schema(), WORKLOAD_SCHEMA: workload_schema(),
            REFERENCE_SCHEMA: reference_schema()}


def write(directory: Path = SCHEMAS_DIR) -> list[Path]:
    directory.mkdir(exist_ok=True)
    paths = []
    for name, schema in published().items():
        path = directory / name
        path.write_text(json.dumps(schema, indent=2) + "\n")
        paths.append(path)
    return paths


if __name__ == "__main__":
    for written in write():
        print(written)
