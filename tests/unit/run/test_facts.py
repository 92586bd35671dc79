"""The host facts that describe what accounting can read on the host."""

from __future__ import annotations

from hostbench.run.facts import counters_fact, host_facts


def test_the_hosts_counters_are_named_as_perf_answered_never_as_zero():
    assert counters_fact("123456", True).startswith("hardware counters: readable")
    none = counters_fact("<not supported>", False)
    assert "cycles <not supported>" in none and "TCG" in none
    assert "perf is not installed" in counters_fact("no perf", False)
    assert "does not count exits" in counters_fact("", True)


def test_this_hosts_facts_say_what_perf_answered():
    assert host_facts().counters.startswith("hardware counters: ")
