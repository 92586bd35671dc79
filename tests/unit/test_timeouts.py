"""A hung test fails with a message instead of holding the run: e2e tests after E2E_TIMEOUT_S,
the others after pyproject's `timeout`."""

from __future__ import annotations

import pytest

from tests.conftest import E2E_TIMEOUT_S, give_e2e_timeouts


class Item:
    def __init__(self, *marks: pytest.MarkDecorator) -> None:
        self.marks = {m.mark.name: m.mark for m in marks}

    def get_closest_marker(self, name: str) -> pytest.Mark | None:
        return self.marks.get(name)

    def add_marker(self, marker: pytest.MarkDecorator) -> None:
        self.marks[marker.mark.name] = marker.mark


def test_e2e_tests_get_their_own_timeout_and_keep_one_they_set() -> None:
    e2e, unit, own = Item(pytest.mark.e2e), Item(), Item(pytest.mark.e2e, pytest.mark.timeout(60))
    give_e2e_timeouts([e2e, unit, own])
    assert [i.marks.get("timeout") and i.marks["timeout"].args for i in (e2e, unit, own)] == [
        (E2E_TIMEOUT_S,), None, (60,)]


def test_every_other_test_has_the_default_timeout(request: pytest.FixtureRequest) -> None:
    assert float(request.config.getini("timeout")) > 0
    assert request.node.get_closest_marker("timeout") is None
