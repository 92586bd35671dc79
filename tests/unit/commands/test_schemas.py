"""The published JSON Schemas are the ones the models generate, and the shipped files use them."""

from __future__ import annotations

import json

import pytest

from hostbench.commands.schemas import (
    REFERENCE_SCHEMA,
    STACK_SCHEMA,
    WORKLOAD_SCHEMA,
    published,
    write,
)
from hostbench.paths import REFERENCES_DIR, SCHEMAS_DIR, STACKS_DIR, WORKLOADS_DIR


def test_the_published_schemas_are_up_to_date():
    """After changing a model: .venv/bin/python -m hostbench.commands.schemas"""
    for name, schema in published().items():
        assert json.loads((SCHEMAS_DIR / name).read_text()) == schema, name


def test_the_schemas_describe_the_files(tmp_path):
    write(tmp_path)
    stack = json.loads((tmp_path / STACK_SCHEMA).read_text())["properties"]["config"]
    assert stack["required"] == ["hostbench:cores", "hostbench:memory_mib"]
    assert stack["properties"]["hostbench:memory_mib"]["minimum"] == 256
    assert stack["additionalProperties"] is False
    workload = json.loads((tmp_path / WORKLOAD_SCHEMA).read_text())
    assert "sysbench_cpu" in workload["properties"]["parser"]["enum"]
    assert workload["additionalProperties"] is False
    reference = json.loads((tmp_path / REFERENCE_SCHEMA).read_text())
    assert "source" not in reference["properties"] and "figures" in reference["required"]


@pytest.mark.parametrize(("directory", "schema"), [(WORKLOADS_DIR, WORKLOAD_SCHEMA),
                                                   (STACKS_DIR, STACK_SCHEMA),
                                                   (REFERENCES_DIR, REFERENCE_SCHEMA)])
def test_every_shipped_file_names_its_schema_for_editors(directory, schema):
    for path in sorted(directory.glob("*.yaml")):
        first = path.read_text().splitlines()[0]
        assert first == f"# yaml-language-server: $schema=../schemas/{schema}", path
