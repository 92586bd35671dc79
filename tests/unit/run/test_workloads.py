"""Workload files: the shipped catalogue loads and renders; malformed files name file and field."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from hostbench.errors import ConfigError, HostbenchError
from hostbench.run.parsers import PARSERS
from hostbench.run.workloads import (
    CATEGORIES,
    HostServerSpec,
    load_catalogue,
    load_workload,
    select,
)

EXTRA = {"server_address": "192.168.122.1", "port": "5201",
         "scratch_file": "/scratch/hostbench-scratch.bin", "memory_mib": 1024}
SERVICE_EXTRA = {"service_address": "192.168.150.10", "client_address": "192.168.150.1",
                 "port": "6379", "service_dir": "/scratch/hostbench-svc.d", "memory_mib": 1024}
STANDARD_ONLY = {"hpc-hpcc", "disk-fio-randwrite", "disk-fio-randrw", "disk-fio-seqread",
                 "disk-fio-seqwrite", "net-sockperf-udp-latency", "net-iperf3-reverse",
                 "net-iperf3-parallel"}
SERVICES = {"service-redis-1client", "service-redis-50clients", "service-mariadb-oltp-ro",
            "service-mariadb-oltp-rw"}
STANDARD_ONLY |= SERVICES
SHIPPED = {"cpu-sysbench", "memory-sysbench", "disk-fio-randread", "net-iperf3",
           "net-sockperf-latency", "kernel-stress-ng-switch", "service-nginx-wrk",
           *STANDARD_ONLY}


def _valid() -> dict[str, Any]:
    return {
        "description": "CPU, sysbench prime-number events",
        "category": "cpu",
        "command": ["sysbench", "cpu", "--threads={threads}", "--time={duration}",
                    "--cpu-max-prime={max_prime}", "run"],
        "parameters": {"max_prime": 20000},
        "durations": {"quick": 5, "standard": 30},
        "timeout_s": 360,
        "parser": "sysbench_cpu",
        "metrics": ["events_per_second"],
    }


def _write(tmp_path: Path, data: dict[str, Any], name: str = "w.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data))
    return path


# --- the shipped catalogue -----------------------------------------------------------------


def test_the_shipped_catalogue_loads_and_is_sorted():
    catalogue = load_catalogue()
    assert set(catalogue) == SHIPPED
    assert list(catalogue) == sorted(catalogue)
    for name, workload in catalogue.items():
        assert workload.name == name and workload.category in CATEGORIES
        assert workload.source.endswith(f"{name}.yaml")
        assert workload.durations.get("quick", 5) <= 5 and workload.durations["standard"] == 30
        assert workload.timeout_s >= 10 * workload.durations["standard"]
        declared = PARSERS[workload.parser].metrics
        assert [m.name for m in workload.metric_specs] == workload.metrics
        assert all(m is declared[m.name] for m in workload.metric_specs)


def test_quick_is_a_representative_subset_and_standard_runs_everything():
    catalogue = load_catalogue()
    quick = {w.name for w in select(catalogue, "quick")}
    assert quick == SHIPPED - STANDARD_ONLY
    # one per category, but HPCC, which takes minutes under TCG
    assert {w.category for w in select(catalogue, "quick")} == set(CATEGORIES) - {"hpc"}
    assert [w.name for w in select(catalogue, "standard")] == list(catalogue)


def test_smoke_is_the_quick_suite_for_one_second_each():
    """What the e2e tests run: every command of the quick suite, as short as it goes."""
    catalogue = load_catalogue()
    assert select(catalogue, "smoke") == select(catalogue, "quick")
    assert {w.duration("smoke") for w in select(catalogue, "smoke")} == {1}


@pytest.mark.parametrize("suite", ["quick", "standard"])
def test_every_shipped_workload_renders_for_both_suites(suite):
    for workload in select(load_catalogue(), suite):
        argv = workload.render(suite, 2, SERVICE_EXTRA if workload.service else EXTRA)
        assert argv and all(isinstance(token, str) for token in argv)
        assert not any(re.search(r"\{\w+\}", token) for token in argv), argv  # all filled
        if any("{duration}" in token for token in workload.command):
            assert str(workload.duration(suite)) in " ".join(argv)
        if workload.host_server is not None:
            server = workload.host_server.render(EXTRA["server_address"])
            assert EXTRA["server_address"] in server and str(workload.host_server.port) in server


@pytest.mark.parametrize("name", sorted(SERVICES | {"service-nginx-wrk"}))
def test_every_service_workload_renders_its_service_setup_and_client(name):
    workload = load_catalogue()[name]
    assert workload.service is not None and workload.category == "service"
    values = workload.values("standard", 1, SERVICE_EXTRA)
    commands = [workload.render("standard", 1, SERVICE_EXTRA),
                workload.fill("service.command", workload.service.command, values)]
    if workload.service.setup:
        commands.append(workload.fill("service.setup", workload.service.setup, values))
    if workload.client_setup:
        commands.append(workload.fill("client_setup", workload.client_setup, values))
    for argv in commands:
        assert not any(re.search(r"(?<!\{)\{\w+\}(?!\})", token) for token in argv), argv
    assert "192.168.150.10" in " ".join(commands[0]) + " ".join(commands[1])
    if "mariadb" in name:  # the user may connect from the host's address only
        assert "192.168.150.1" in commands[2] and "@'%'" not in " ".join(commands[2])


def test_shipped_workloads_render_as_expected():
    catalogue = load_catalogue()
    assert shlex.join(catalogue["cpu-sysbench"].render("standard", 4, {})) == (
        "sysbench cpu --threads=4 --time=30 --events=0 --cpu-max-prime=20000 run")
    fio = catalogue["disk-fio-randread"].render("quick", 1, EXTRA)
    assert fio[0] == "fio" and "--filename=/scratch/hostbench-scratch.bin" in fio
    for flag in ("--direct=1", "--ioengine=libaio", "--iodepth=32", "--rw=randread",
                 "--bs=4k", "--time_based", "--size=256M", "--output-format=json"):
        assert flag in fio
    assert catalogue["disk-fio-randread"].scratch_mib == 256
    iperf = catalogue["net-iperf3"]
    assert iperf.render("standard", 1, EXTRA) == [
        "iperf3", "-c", "192.168.122.1", "-p", "5201", "-t", "30", "-J"]
    assert iperf.host_server == HostServerSpec(
        command=["iperf3", "-s", "-1", "-B", "{server_address}", "-p", "{port}"], port=5201)
    assert iperf.host_server.render("10.0.0.1", 6000)[-1] == "6000"
    assert catalogue["net-sockperf-latency"].host_server.port == 11111
    memory = catalogue["memory-sysbench"].render("quick", 1, {})
    assert "--memory-block-size=1M" in memory
    assert catalogue["memory-sysbench"].metrics == ["mib_per_second"]
    assert [(m.unit, m.higher_is_better) for m in catalogue["memory-sysbench"].metric_specs] == [
        ("MiB/s", True)]
    assert shlex.join(catalogue["kernel-stress-ng-switch"].render("quick", 2, {})) == (
        "stress-ng --switch 2 --switch-method pipe --timeout 5s --metrics --yaml /dev/stdout")


# --- rendering -----------------------------------------------------------------------------


def test_a_token_with_spaces_stays_one_argv_element(tmp_path):
    data = _valid()
    data["command"] = [*data["command"], "--label={label}", "{label}"]
    data["parameters"]["label"] = "two words; $(rm -rf /)"
    argv = load_workload(_write(tmp_path, data)).render("quick", 1, {})
    assert argv[-2:] == ["--label=two words; $(rm -rf /)", "two words; $(rm -rf /)"]
    assert shlex.split(shlex.join(argv)) == argv


def test_threads_default_to_cores_unless_a_parameter_overrides_them(tmp_path):
    data = _valid()
    assert "--threads=3" in load_workload(_write(tmp_path, data)).render("quick", 3, {})
    data["parameters"]["threads"] = 1
    assert "--threads=1" in load_workload(_write(tmp_path, data)).render("quick", 3, {})


def test_literal_braces_are_kept(tmp_path):
    data = _valid()
    data["command"] = [*data["command"], "{{not-a-placeholder}}"]
    assert load_workload(_write(tmp_path, data)).render("quick", 1, {})[-1] == (
        "{not-a-placeholder}")


def test_a_placeholder_the_runner_did_not_provide_names_file_and_command(tmp_path):
    workload = load_workload(load_catalogue()["net-iperf3"].source)
    with pytest.raises(ConfigError) as err:
        workload.render("quick", 1, {"port": "5201"})
    assert err.value.source.endswith("net-iperf3.yaml") and err.value.field == "command"
    assert "{server_address}" in err.value.problem


def test_rendering_an_unknown_suite_fails(tmp_path):
    path = _write(tmp_path, _valid())
    with pytest.raises(ConfigError, match="durations: has no entry for suite 'long'"):
        load_workload(path).render("long", 1, {})


# --- malformed workload files --------------------------------------------------------------


def _without(key: str) -> dict[str, Any]:
    data = _valid()
    del data[key]
    return data


def _with(**changes: Any) -> dict[str, Any]:
    return {**_valid(), **changes}


NETWORK = {"command": ["iperf3", "-c", "{server_address}", "-p", "{port}", "-t", "{duration}"],
           "parameters": {}}
SERVICE = {"category": "service", "parameters": {},
           "command": ["redis-benchmark", "-h", "{service_address}", "-p", "{port}"],
           "service": {"command": ["redis-server", "--bind", "{service_address}"], "port": 6379}}


@pytest.mark.parametrize(("data", "field", "words"), [
    (_without("parser"), "parser", "required"),
    (_without("durations"), "durations", "required"),
    (_with(colour="red"), "colour", "not a known field"),
    (_with(name="other"), "name", "not a known field"),
    (_with(category="gpu"), "category", "input should be 'cpu'"),
    (_with(parser="nonesuch"), "parser", "not a known parser"),
    (_with(metrics=["mib_per_second"]), "metrics[0]", "not reported by parser 'sysbench_cpu'"),
    (_with(metrics={"events_per_second": {"unit": "events/s"}}), "metrics",
     "valid list"),
    (_with(metrics=[]), "metrics", "at least 1 item"),
    (_with(command=["sysbench", "--time={duration}", "--x={nonesuch}"], parameters={}),
     "command", "{nonesuch}"),
    (_with(command=["sysbench", "--time={duration}", "--file={scratch_file}"], parameters={}),
     "command", "{scratch_file}"),
    (_with(**NETWORK), "command", "{server_address}"),
    (_with(command=["sysbench", "--time={duration!r}"], parameters={}), "command",
     "plain {name}"),
    (_with(command=["sysbench", "--time={duration"], parameters={}), "command", "token 1"),
    (_with(timeout_s=30), "timeout_s", "must exceed the longest duration (30 s"),
    (_with(timeout_s=True), "timeout_s", "must be a number, not true"),
    (_with(durations={"quick": 0}), "durations.quick", "greater than or equal to 1"),
    (_with(durations={}), "durations", "at least 1 item"),
    (_with(parameters={"max_prime": 1, "unused": 2}), "parameters.unused", "not used"),
    (_with(parameters={"max_prime": 1, "duration": 2}), "parameters",
     "provided by hostbench"),
    (_with(parameters={"max_prime": True}), "parameters.max_prime", "string or a number"),
    (_with(parameters={"max prime": 1}), "parameters.max prime", "match pattern"),
    (_with(**NETWORK, host_server={"command": ["iperf3", "-s", "{duration}"], "port": 5201}),
     "host_server.command", "{duration}"),
    (_with(**NETWORK, host_server={"command": ["iperf3", "-s"], "port": 70000}),
     "host_server.port", "less than or equal to 65535"),
    (_with(**NETWORK, host_server={"command": ["iperf3", "-s"], "port": 5201, "tls": True}),
     "host_server.tls", "not a known field (known: command, port, protocol)"),
    (_with(scratch_mib=0), "scratch_mib", "greater than or equal to 1"),
    (_with(**{**SERVICE, "category": "cpu"}), "category",
     "exactly when the workload has a service"),
    (_with(category="service"), "category", "exactly when the workload has a service"),
    (_with(**NETWORK, host_server={"command": ["iperf3", "-s"], "port": 5201},
           client_setup=["x"]), "client_setup", "needs a service"),
    (_with(**{**SERVICE, "service": {"command": ["redis-server", "--dir", "{scratch_file}"],
                                     "port": 6379}}), "service.command", "{scratch_file}"),
    (_with(**{**SERVICE, "service": {"command": ["redis-server"], "port": 6379,
                                     "setup": ["sh", "{server_address}"]}}),
     "service.setup", "{server_address}"),
    (_with(**SERVICE, host_server={"command": ["iperf3", "-s"], "port": 5201}),
     "host_server", "a host_server or a service, not both"),
    (_with(**{**SERVICE, "service": {"command": ["redis-server"], "port": 6379,
                                     "ready_timeout_s": 0}}),
     "service.ready_timeout_s", "greater than or equal to 1"),
    (_with(**SERVICE, client_setup=["sysbench", "{nonesuch}"]), "client_setup", "{nonesuch}"),
])
def test_malformed_workloads_name_file_and_field(tmp_path, data, field, words):
    path = _write(tmp_path, data, "broken-workload.yaml")
    with pytest.raises(ConfigError) as err:
        load_workload(path)
    assert err.value.source == str(path) and err.value.field == field, str(err.value)
    assert words in err.value.problem
    assert "broken-workload.yaml" in str(err.value) and field in str(err.value)


@pytest.mark.parametrize(("text", "field", "words"), [
    ("description: [unclosed\n", "(file)", "not valid YAML"),
    ("- a\n- list\n", "(top level)", "mapping"),
])
def test_unreadable_workload_files_are_named(tmp_path, text, field, words):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_workload(path)
    assert err.value.source == str(path) and err.value.field == field
    assert words in err.value.problem and "bad.yaml" in str(err.value)


def test_server_and_scratch_placeholders_are_allowed_when_declared(tmp_path):
    network = _with(**NETWORK, host_server={"command": ["iperf3", "-s", "-p", "{port}"],
                                            "port": 5201})
    workload = load_workload(_write(tmp_path, network, "n.yaml"))
    assert workload.render("quick", 1, EXTRA)[2:5] == ["192.168.122.1", "-p", "5201"]
    assert workload.host_server is not None and workload.host_server.port == 5201
    disk = _with(command=["fio", "--filename={scratch_file}", "--size={scratch_mib}M",
                          "--runtime={duration}"], parameters={}, scratch_mib=64)
    argv = load_workload(_write(tmp_path, disk, "d.yaml")).render("quick", 1, EXTRA)
    assert argv == ["fio", "--filename=/scratch/hostbench-scratch.bin", "--size=64M",
                    "--runtime=5"]


def test_an_empty_or_missing_catalogue_directory_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="holds no"):
        load_catalogue(tmp_path)
    with pytest.raises(ConfigError, match="does not exist"):
        load_catalogue(tmp_path / "nope")


def test_a_broken_file_in_the_catalogue_is_named(tmp_path):
    _write(tmp_path, _valid(), "a.yaml")
    _write(tmp_path, _without("category"), "b.yaml")
    with pytest.raises(ConfigError, match=r"b\.yaml: category: is required"):
        load_catalogue(tmp_path)


def test_a_file_is_parsed_again_when_its_content_changes_however_soon(tmp_path):
    """Read again with the same content, a workload is the one parsed before; any change, even
    one of the same size within the file system's time resolution, is read anew."""
    path = _write(tmp_path, _valid())
    first = load_workload(path)
    assert load_workload(path) is first
    path.write_text(path.read_text().replace("20000", "30000"))  # same size, same instant
    assert load_workload(path).parameters == {"max_prime": 30000}
    path.write_text("category: [")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_workload(path)


# --- select --------------------------------------------------------------------------------


@pytest.fixture()
def catalogue(tmp_path):
    _write(tmp_path, _valid(), "a-cpu.yaml")
    _write(tmp_path, _with(durations={"standard": 30}), "b-standard-only.yaml")
    _write(tmp_path, _valid(), "c-cpu.yaml")
    return load_catalogue(tmp_path)


def test_select_picks_the_workloads_of_a_suite(catalogue):
    assert [w.name for w in select(catalogue, "standard", None)] == [
        "a-cpu", "b-standard-only", "c-cpu"]
    assert [w.name for w in select(catalogue, "quick", None)] == ["a-cpu", "c-cpu"]


def test_select_filters_by_name_in_the_order_given(catalogue):
    assert [w.name for w in select(catalogue, "quick", ["c-cpu", "a-cpu", "c-cpu"])] == [
        "c-cpu", "a-cpu"]


def test_select_rejects_unknown_names_and_lists_the_known_ones(catalogue):
    with pytest.raises(HostbenchError) as err:
        select(catalogue, "quick", ["a-cpu", "gpu-burn"])
    message = str(err.value)
    assert "'gpu-burn'" in message
    assert all(name in message for name in ("a-cpu", "b-standard-only", "c-cpu"))


def test_select_rejects_workloads_outside_the_suite_and_unknown_suites(catalogue):
    with pytest.raises(HostbenchError, match="'b-standard-only' is not in suite 'quick'"):
        select(catalogue, "quick", ["b-standard-only"])
    with pytest.raises(HostbenchError, match="suites: quick, standard"):
        select(catalogue, "marathon", None)
