"""The schema validator itself must catch what the program tests rely on it to catch."""

import pytest

from tests.conftest import SHARED_SCHEMAS
from tests.infra.provider_schemas import ProviderSchemas


@pytest.fixture(scope="module")
def schemas() -> ProviderSchemas:
    return ProviderSchemas([SHARED_SCHEMAS / "libvirt-schema.json",
                            SHARED_SCHEMAS / "docker-schema.json"])


GOOD_CONTAINER = {"image": "sha256:ab", "name": "c", "cpuSet": "1", "memory": 1024.0,
                  "ports": [{"internal": 22.0, "external": 2222.0, "ip": "127.0.0.1"}]}


def test_accepts_valid_inputs_with_float_numbers(schemas):
    assert schemas.validate("docker:index/container:Container", GOOD_CONTAINER) == []


def test_rejects_a_misspelled_property(schemas):
    bad = dict(GOOD_CONTAINER, cpuSett="1")
    assert schemas.validate("docker:index/container:Container", bad) == [
        "docker:index/container:Container.cpuSett: unknown property "
        + "(known: " + ", ".join(sorted(schemas.resources["docker:index/container:Container"]
                                        ["inputProperties"])) + ")"]


def test_rejects_a_missing_required_property(schemas):
    bad = {k: v for k, v in GOOD_CONTAINER.items() if k != "image"}
    assert schemas.validate("docker:index/container:Container", bad) == [
        "docker:index/container:Container.image: required property is missing"]


def test_rejects_a_missing_required_property_of_a_nested_type(schemas):
    bad = dict(GOOD_CONTAINER, ports=[{"external": 2222.0}])
    assert schemas.validate("docker:index/container:Container", bad) == [
        "docker:index/container:Container.ports[0].internal: required property is missing"]


@pytest.mark.parametrize(("key", "value"), [("memory", 1.5), ("memory", "1024"), ("cpuSet", 1.0),
                                            ("mustRun", "yes"), ("ports", {"internal": 22.0})])
def test_rejects_wrong_types(schemas, key, value):
    problems = schemas.validate("docker:index/container:Container", dict(GOOD_CONTAINER,
                                                                         **{key: value}))
    assert len(problems) == 1 and "expected" in problems[0] and key in problems[0]


def test_rejects_wrongly_typed_map_values_in_libvirt_cmdlines(schemas):
    problems = schemas.validate("libvirt:index/domain:Domain", {"cmdlines": [{"root": 1.0}]})
    assert problems == ["libvirt:index/domain:Domain.cmdlines[0].root: expected string, got 1.0"]


def test_unknown_resource_type_is_a_problem(schemas):
    assert schemas.validate("libvirt:index/domian:Domian", {}) != []
