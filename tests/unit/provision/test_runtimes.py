"""Registering gVisor with the Docker engine keeps every other setting of daemon.json."""

from __future__ import annotations

import json

import pytest

from hostbench.errors import HostbenchError
from hostbench.provision.runtimes import RUNSC_ARGS, read_config, with_runsc


def test_runsc_is_added_and_everything_else_kept():
    current = {"log-driver": "journald", "runtimes": {"kata": {"path": "/usr/bin/kata"}}}
    merged = with_runsc(current, "/usr/bin/runsc")
    assert merged["log-driver"] == "journald" and merged["runtimes"]["kata"] == {
        "path": "/usr/bin/kata"}
    assert merged["runtimes"]["runsc"] == {"path": "/usr/bin/runsc",
                                           "runtimeArgs": list(RUNSC_ARGS)}
    assert current["runtimes"] == {"kata": {"path": "/usr/bin/kata"}}  # not changed in place
    assert with_runsc(merged, "/usr/bin/runsc") == merged  # a second run changes nothing


def test_an_absent_or_empty_config_is_empty_and_a_broken_one_is_named(tmp_path):
    path = tmp_path / "daemon.json"
    assert read_config(path) == {}
    path.write_text("")
    assert read_config(path) == {}
    path.write_text(json.dumps({"debug": True}))
    assert read_config(path) == {"debug": True}
    path.write_text("{broken")
    with pytest.raises(HostbenchError, match=f"{path} is not valid JSON"):
        read_config(path)
