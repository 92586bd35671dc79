"""Unit tests of hostbench.run.parsers on real output captured from the Debian 12 tools.

The samples in tests/data/outputs/ are short runs on a development host; the expected numbers
below were read from those files by eye (they are parse results, not benchmark claims).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from hostbench.errors import HostbenchError
from hostbench.run.parsers import (
    PARSERS,
    ParseError,
    UnknownParserError,
    parse,
)

OUTPUTS = Path(__file__).resolve().parents[2] / "data" / "outputs"


def sample(name: str) -> str:
    """The captured output file ``name``."""
    return (OUTPUTS / name).read_text()


def parse_error(parser: str, text: str) -> str:
    """The message of the ParseError that ``parser`` raises on ``text``."""
    with pytest.raises(ParseError) as info:
        parse(parser, text)
    assert info.value.parser_name == parser
    assert str(info.value).startswith(f"{parser}: ")
    return str(info.value)


# --- good samples: exact values from the files ---------------------------------------------

GOOD = {
    # "events per second:  2764.31" and "avg:  0.36" under "Latency (ms):"
    ("sysbench_cpu", "sysbench-cpu.txt"): {"events_per_second": 2764.31, "latency_avg_ms": 0.36},
    # "35695.00 MiB transferred (17839.23 MiB/sec)"
    ("sysbench_memory", "sysbench-memory.txt"): {"mib_per_second": 17839.23},
    # read: iops 48439.84024, bw_bytes 198409585, clat_ns.mean 316539.7795,
    # clat_ns.percentile["99.000000"] 1302528
    ("fio_json", "fio-randread.json"): {
        "read_iops": 48439.84024,
        "read_bw_mibps": 198409585 / 2**20,
        "read_lat_avg_us": 316.5397795,
        "read_lat_p99_us": 1302.528,
    },
    # Same, psync engine: a "note: ..." line precedes the JSON on stdout.
    ("fio_json", "fio-randread-psync.txt"): {
        "read_iops": 12585.414585,
        "read_bw_mibps": 51549858 / 2**20,
        "read_lat_avg_us": 76.520332275,
        "read_lat_p99_us": 387.072,
    },
    # write: iops 53041.47926, bw_bytes 217257899, clat_ns.mean 589118.531092,
    # clat_ns.percentile["99.000000"] 1957888
    ("fio_json_write", "fio-randwrite.json"): {
        "write_iops": 53041.47926,
        "write_bw_mibps": 217257899 / 2**20,
        "write_lat_avg_us": 589.118531092,
        "write_lat_p99_us": 1957.888,
    },
    # 1 MiB sequential writes, queue depth 8
    ("fio_json_write", "fio-seqwrite.json"): {
        "write_iops": 2683.658171,
        "write_bw_mibps": 2814019550 / 2**20,
        "write_lat_avg_us": 2887.280883426,
        "write_lat_p99_us": 3653.632,
    },
    # 1 MiB sequential reads
    ("fio_json", "fio-seqread.json"): {
        "read_iops": 1104.187438,
        "read_bw_mibps": 1157824446 / 2**20,
        "read_lat_avg_us": 7182.587362528,
        "read_lat_p99_us": 10027.008,
    },
    # 70/30 random read/write: each direction from its own object
    ("fio_json_rw", "fio-randrw.json"): {
        "read_iops": 58396.301849,
        "read_bw_mibps": 239191252 / 2**20,
        "read_lat_avg_us": 350.107198501,
        "read_lat_p99_us": 1449.984,
        "write_iops": 24943.528236,
        "write_bw_mibps": 102168691 / 2**20,
        "write_lat_avg_us": 442.029377184,
        "write_lat_p99_us": 1859.584,
    },
    # end.sum_received.bits_per_second 18323721539.570927, end.sum_sent.retransmits 0
    ("iperf3_json", "iperf3-tcp.json"): {
        "throughput_gbps": 18.323721539570927,
        "retransmits": 0.0,
    },
    # -R: the host sends, the environment receives (sum_received 14766601421.450533, 6 retransmits)
    ("iperf3_json", "iperf3-reverse.json"): {
        "throughput_gbps": 14.766601421450533,
        "retransmits": 6.0,
    },
    # -P 4: the four streams' sum (19342438240.578453), 1 retransmit
    ("iperf3_json", "iperf3-parallel.json"): {
        "throughput_gbps": 19.342438240578453,
        "retransmits": 1.0,
    },
    # UDP ping-pong: "avg-latency=34.415 (std-dev=14.128)" and "percentile 99.000 =   57.029"
    ("sockperf_pingpong", "sockperf-udp-pingpong.txt"): {
        "latency_avg_us": 34.415,
        "latency_p99_us": 57.029,
    },
    # "avg-latency=14.554 (std-dev=59.207)" and "percentile 99.000 =   30.792"
    ("sockperf_pingpong", "sockperf-pingpong.txt"): {
        "latency_avg_us": 14.554,
        "latency_p99_us": 30.792,
    },
    # summary section: HPL_Tflops=0.0354015, StarSTREAM_Triad=28.133, StarSTREAM_Copy=30.3197,
    # StarRandomAccess_GUPs=0.0904416 (N=2000, one process, OpenBLAS)
    ("hpcc", "hpcc-openblas.txt"): {
        "hpl_gflops": 35.4015,
        "stream_triad_gbs": 28.133,
        "stream_copy_gbs": 30.3197,
        "random_access_gups": 0.0904416,
    },
    # metrics: - stressor: switch ... nanosecs-per-context-switch-pipe-method: 8829.779954
    ("stress_ng_switch", "stress-ng-switch.yaml"): {"context_switch_ns": 8829.779954},
    # "SET","69204.15","0.387","0.112","0.383","0.519","0.863","3.231"
    # "GET","82644.62","0.330","0.096","0.303","0.471","0.599","1.335"
    ("redis_benchmark_csv", "redis-benchmark-c50.csv"): {
        "get_requests_per_second": 82644.62, "get_latency_p50_ms": 0.303,
        "get_latency_p99_ms": 0.599, "set_requests_per_second": 69204.15,
        "set_latency_p50_ms": 0.383, "set_latency_p99_ms": 0.863,
    },
    # transactions: 6873 (2289.35 per sec.) ... 95th percentile: 2.86
    ("sysbench_oltp", "sysbench-oltp-read-only.txt"): {
        "transactions_per_second": 2289.35, "latency_p95_ms": 2.86},
    # transactions: 3247 (1080.16 per sec.) ... 95th percentile: 5.99
    ("sysbench_oltp", "sysbench-oltp-read-write.txt"): {
        "transactions_per_second": 1080.16, "latency_p95_ms": 5.99},
    # Requests/sec:  67778.20 ... Latency Distribution ... 99%    1.64ms
    ("wrk_latency", "wrk-latency.txt"): {"requests_per_second": 67778.2, "latency_p99_ms": 1.64},
}


@pytest.mark.parametrize(("parser", "filename"), sorted(GOOD))
def test_parses_captured_sample(parser: str, filename: str) -> None:
    result = parse(parser, sample(filename))
    expected = GOOD[(parser, filename)]
    assert result == pytest.approx(expected, rel=1e-12)
    assert all(isinstance(v, float) for v in result.values())


@pytest.mark.parametrize(("parser", "filename"), sorted(GOOD))
def test_returns_exactly_the_declared_metrics(parser: str, filename: str) -> None:
    assert set(parse(parser, sample(filename))) == set(PARSERS[parser].metrics)


def test_every_parser_has_a_captured_sample() -> None:
    assert set(PARSERS) == {p for p, _ in GOOD} == {
        "sysbench_cpu", "sysbench_memory", "fio_json", "fio_json_write", "fio_json_rw",
        "iperf3_json", "sockperf_pingpong", "stress_ng_switch", "hpcc", "redis_benchmark_csv",
        "sysbench_oltp", "wrk_latency",
    }


def test_each_metric_is_declared_once_with_unit_and_direction() -> None:
    metrics = {name: PARSERS[name].metrics for name in PARSERS}
    assert metrics["sysbench_cpu"]["events_per_second"].higher_is_better
    assert not metrics["sysbench_cpu"]["latency_avg_ms"].higher_is_better
    assert metrics["iperf3_json"]["throughput_gbps"].unit == "Gbit/s"
    assert not metrics["iperf3_json"]["retransmits"].higher_is_better
    assert not metrics["fio_json"]["read_lat_p99_us"].higher_is_better
    for declared in metrics.values():
        assert all(m.name == key for key, m in declared.items())


def test_parsers_can_be_called_directly() -> None:
    assert PARSERS["sysbench_memory"](sample("sysbench-memory.txt")) == {
        "mib_per_second": 17839.23}


# --- failures the tools print ----------------------------------------------------------------


def test_sysbench_bad_option() -> None:
    text = sample("sysbench-error.txt")
    assert parse_error("sysbench_cpu", text) == (
        "sysbench_cpu: no 'events per second' line in output "
        "(tool said: 'invalid option: --bogus-option=3')")
    assert "'MiB transferred (... MiB/sec)'" in parse_error("sysbench_memory", text)


def test_sysbench_cpu_on_memory_output() -> None:
    assert parse_error("sysbench_cpu", sample("sysbench-memory.txt")) == (
        "sysbench_cpu: no 'events per second' line in output")


def test_fio_job_error_quotes_fio() -> None:
    message = parse_error("fio_json", sample("fio-error.txt"))
    assert "job 'randread' failed with error 2" in message
    assert "func=open(/tmp/fio-does-not-exist), error=No such file or directory" in message


def test_a_failed_write_job_quotes_fio() -> None:
    message = parse_error("fio_json_write", sample("fio-write-error.txt"))
    assert "job 'randwrite' failed with error 1" in message
    assert "func=unlink, error=Operation not permitted" in message


def test_a_read_only_job_has_no_writes_to_report() -> None:
    assert parse_error("fio_json_write", sample("fio-randread.json")) == (
        "fio_json_write: job 'randread' did no writes ('write.total_ios' is 0)")
    assert "did no writes" in parse_error("fio_json_rw", sample("fio-randread.json"))


def test_a_udp_ping_pong_without_a_server_quotes_sockperf() -> None:
    assert parse_error("sockperf_pingpong", sample("sockperf-udp-noserver.txt")) == (
        "sockperf_pingpong: no 'avg-latency=' line in output (tool said: 'sockperf: No messages "
        "were received from the server. Is the server down?')")


def test_hpcc_refused_to_run_as_root_quotes_mpirun() -> None:
    assert parse_error("hpcc", sample("hpcc-root-error.txt")) == (
        "hpcc: no summary section ('Begin of Summary section.') in output (tool said: 'mpirun "
        "has detected an attempt to run as root.')")


def test_hpcc_that_failed_its_verification_is_an_error() -> None:
    text = sample("hpcc-openblas.txt").replace("Success=1", "Success=0")
    assert "hpcc reports Success=0" in parse_error("hpcc", text)


def test_hpcc_kernel_that_did_not_run_is_an_error() -> None:
    text = re.sub(r"^StarSTREAM_Triad=.*$", "StarSTREAM_Triad=0", sample("hpcc-openblas.txt"),
                  flags=re.M)
    assert parse_error("hpcc", text) == (
        "hpcc: summary section has StarSTREAM_Triad=0: the kernel did not run")


def test_fio_bad_option_has_no_json() -> None:
    assert parse_error("fio_json", sample("fio-bad-option.txt")) == (
        "fio_json: no JSON object in output (tool said: 'fio: failed parsing rw=sideways')")


def test_iperf3_error_key() -> None:
    assert parse_error("iperf3_json", sample("iperf3-error.json")) == (
        "iperf3_json: iperf3 reported an error: 'unable to connect to server: "
        "Connection refused'")


def test_sockperf_connection_refused() -> None:
    message = parse_error("sockperf_pingpong", sample("sockperf-error.txt"))
    assert "no 'avg-latency=' line" in message
    assert "ERROR: Can`t connect socket (errno=111 Connection refused)" in message
    assert "\x1b" not in message


def test_stress_ng_bad_option_quotes_stress_ng() -> None:
    # stress-ng prints this line and no YAML for --switch-method bogus
    text = "switch-method must be one of: mq pipe sem-sysv\n"
    assert parse_error("stress_ng_switch", text) == (
        "stress_ng_switch: no YAML document ('---' ... '...') in output "
        "(tool said: 'switch-method must be one of: mq pipe sem-sysv')")


def test_stress_ng_other_stressor() -> None:
    text = sample("stress-ng-switch.yaml").replace("stressor: switch", "stressor: get")
    assert parse_error("stress_ng_switch", text) == (
        "stress_ng_switch: YAML 'metrics' has 0 'switch' entries, not 1")


def test_stress_ng_metrics_missing_or_not_a_list() -> None:
    assert parse_error("stress_ng_switch", "---\nsystem-info: {}\n...\n") == (
        "stress_ng_switch: YAML output has no 'metrics'")
    assert parse_error("stress_ng_switch", "---\nmetrics: 3\n...\n") == (
        "stress_ng_switch: YAML 'metrics' is 3, not a list of stressors")


def test_stress_ng_without_the_per_switch_figure() -> None:
    text = sample("stress-ng-switch.yaml").replace("nanosecs-per-context-switch-pipe-method",
                                                   "bogo-ops-extra")
    assert "no single 'nanosecs-per-context-switch-*' key" in parse_error("stress_ng_switch", text)


def test_stress_ng_truncated_yaml() -> None:
    text = sample("stress-ng-switch.yaml")
    assert "no YAML document" in parse_error("stress_ng_switch", text[: text.index("metrics:")])


def test_stress_ng_non_numeric_figure() -> None:
    text = re.sub(r"(nanosecs-per-context-switch-pipe-method:) \S+", r"\1 .nan",
                  sample("stress-ng-switch.yaml"))
    assert parse_error("stress_ng_switch", text) == (
        "stress_ng_switch: YAML 'nanosecs-per-context-switch-pipe-method' is nan, "
        "not a finite number")


# --- empty and truncated output --------------------------------------------------------------


@pytest.mark.parametrize("parser", sorted(PARSERS))
@pytest.mark.parametrize("text", ["", "  \n\t\n"])
def test_empty_output(parser: str, text: str) -> None:
    assert parse_error(parser, text) == f"{parser}: output is empty"


def test_sysbench_cpu_truncated_before_latency() -> None:
    text = sample("sysbench-cpu.txt")
    head = text[: text.index("Latency (ms):")]
    assert parse_error("sysbench_cpu", head) == (
        "sysbench_cpu: no 'Latency (ms):' section in output")


def test_sysbench_cpu_truncated_before_results() -> None:
    text = sample("sysbench-cpu.txt")
    assert "'events per second'" in parse_error("sysbench_cpu",
                                                text[: text.index("CPU speed:")])


def test_sysbench_memory_truncated() -> None:
    text = sample("sysbench-memory.txt")
    assert "no 'MiB transferred" in parse_error("sysbench_memory",
                                                text[: text.index("Total operations")])


@pytest.mark.parametrize(("parser", "filename"),
                         [("fio_json", "fio-randread.json"), ("iperf3_json", "iperf3-tcp.json")])
def test_truncated_json(parser: str, filename: str) -> None:
    text = sample(filename)
    message = parse_error(parser, text[: len(text) // 2])
    assert "JSON output is invalid or truncated" in message


def test_fio_other_json_document() -> None:
    assert parse_error("fio_json", sample("iperf3-tcp.json")) == (
        "fio_json: JSON output has no 'jobs'")


def test_iperf3_missing_summary() -> None:
    document = json.loads(sample("iperf3-tcp.json"))
    del document["end"]["sum_received"]
    assert parse_error("iperf3_json", json.dumps(document)) == (
        "iperf3_json: JSON output has no 'end.sum_received.bits_per_second'")


def test_sockperf_truncated_before_percentiles() -> None:
    text = sample("sockperf-pingpong.txt")
    head = text[: text.index("---> percentile 99.000")]
    assert parse_error("sockperf_pingpong", head) == (
        "sockperf_pingpong: no 'percentile 99.000' line in output")


# --- variations of the real samples ----------------------------------------------------------


def fio_sample() -> dict:
    """The captured fio JSON document."""
    return json.loads(sample("fio-randread.json"))


def test_fio_reports_completion_latency_only_never_total_latency_percentiles() -> None:
    document = fio_sample()
    read = document["jobs"][0]["read"]
    read["lat_ns"]["percentile"] = read["clat_ns"].pop("percentile")
    assert "no 99th percentile of completion latency" in parse_error("fio_json",
                                                                     json.dumps(document))


def test_fio_latency_metrics_say_they_are_completion_latency() -> None:
    for name in ("fio_json", "fio_json_write", "fio_json_rw"):
        for metric in PARSERS[name].metrics.values():
            if "_lat_" in metric.name:
                assert metric.unit == "us (completion latency)", metric


def test_fio_without_percentiles() -> None:
    document = fio_sample()
    del document["jobs"][0]["read"]["clat_ns"]["percentile"]
    assert "no 99th percentile" in parse_error("fio_json", json.dumps(document))


def test_fio_without_reads() -> None:
    document = fio_sample()
    document["jobs"][0]["read"]["total_ios"] = 0
    assert parse_error("fio_json", json.dumps(document)) == (
        "fio_json: job 'randread' did no reads ('read.total_ios' is 0)")


def test_fio_missing_field_is_named_by_path() -> None:
    document = fio_sample()
    del document["jobs"][0]["read"]["clat_ns"]
    assert parse_error("fio_json", json.dumps(document)) == (
        "fio_json: JSON output has no 'read.clat_ns.mean'")


def test_fio_combines_jobs() -> None:
    document = fio_sample()
    second = json.loads(json.dumps(document["jobs"][0]))
    second["read"]["clat_ns"]["percentile"]["99.000000"] = 2_000_000
    document["jobs"].append(second)
    result = parse("fio_json", json.dumps(document))
    assert result["read_iops"] == pytest.approx(2 * 48439.84024)
    assert result["read_bw_mibps"] == pytest.approx(2 * 198409585 / 2**20)
    assert result["read_lat_avg_us"] == pytest.approx(316.5397795)
    assert result["read_lat_p99_us"] == pytest.approx(2000.0)


def test_sockperf_full_rtt_is_rejected() -> None:
    text = sample("sockperf-pingpong.txt").replace("avg-latency=", "avg-rtt=")
    assert "run without --full-rtt" in parse_error("sockperf_pingpong", text)


# --- registry --------------------------------------------------------------------------------


def test_unknown_parser_lists_known_ones() -> None:
    with pytest.raises(UnknownParserError) as info:
        parse("sysbench_disk", "anything")
    assert str(info.value) == (
        "unknown parser 'sysbench_disk'; known parsers: fio_json, fio_json_rw, fio_json_write, "
        "hpcc, iperf3_json, redis_benchmark_csv, sockperf_pingpong, stress_ng_switch, "
        "sysbench_cpu, sysbench_memory, sysbench_oltp, wrk_latency")
    assert isinstance(info.value, HostbenchError)


def test_parse_error_is_a_hostbench_error() -> None:
    error = ParseError("sysbench_cpu", "no 'events per second' line in output")
    assert isinstance(error, HostbenchError)
    assert (error.parser_name, error.problem) == (
        "sysbench_cpu", "no 'events per second' line in output")
    assert str(error) == "sysbench_cpu: no 'events per second' line in output"


@pytest.mark.parametrize(("parser", "filename", "old", "metric"), [
    ("iperf3_json", "iperf3-tcp.json", "18323721539.570927", "throughput_gbps"),
    ("fio_json", "fio-randread.json", "48439.840240", "read_iops"),
    ("stress_ng_switch", "stress-ng-switch.yaml", "8829.779954", "context_switch_ns"),
])
def test_a_negative_value_is_refused_where_it_is_parsed(parser, filename, old, metric):
    text = sample(filename).replace(old, "-" + old)
    assert text != sample(filename)
    message = parse_error(parser, text)
    assert metric in message and "negative" in message


def test_text_parsers_read_no_sign():
    text = re.sub(r"events per second:\s+\S+", "events per second: -5", sample("sysbench-cpu.txt"))
    assert "no 'events per second' line" in parse_error("sysbench_cpu", text)


@pytest.mark.parametrize(("parser", "text"), [
    ("stress_ng_switch", "---\nmetrics:\n  - {? [1, 2] : 3, stressor: switch}\n...\n"),
    ("stress_ng_switch", "---\nmetrics:\n  - 1: switch\n...\n"),
    ("fio_json", "{" + '"jobs": ' + "[" * 100_000 + "]" * 100_000 + "}"),
    ("iperf3_json", '{"end": {"sum_received": ' + "[" * 100_000 + "]" * 100_000 + "}}"),
])
def test_hostile_output_is_a_parse_error_never_a_crash(parser, text):
    assert parse_error(parser, text).startswith(f"{parser}: ")


@pytest.mark.parametrize(("parser", "text", "raised"), [
    ("stress_ng_switch", "---\nmetrics:\n  - {stressor: switch, 5: x}\n...\n",
     "AttributeError"),
    ("stress_ng_switch", "---\nmetrics:\n  - {stressor: switch, 5: x, nanosecs-per-context-"
     "switch-pipe-method: 1}\n...\n", "AttributeError"),
])
def test_an_exception_no_handler_expects_is_the_trials_failure(parser, text, raised):
    """Inputs that pass every explicit check and raise inside the parser: only the catch-all
    turns them into a ParseError."""
    message = parse_error(parser, text)
    assert f"output could not be read ({raised}:" in message


def test_deeply_nested_yaml_output_is_refused_before_it_is_parsed() -> None:
    text = "---\nmetrics: " + "[" * 5000 + "]" * 5000 + "\n...\n"
    assert parse_error("stress_ng_switch", text) == (
        "stress_ng_switch: YAML output is nested more than 100 levels deep")


def test_a_value_too_large_for_a_float_is_the_trials_parse_failure() -> None:
    text = re.sub(r"^HPL_Tflops=.*$", "HPL_Tflops=1e306", sample("hpcc-openblas.txt"), flags=re.M)
    assert parse_error("hpcc", text) == (
        "hpcc: hpl_gflops is inf GFLOP/s (all processes): not a finite number, so not a "
        "measurement")


def test_redis_benchmark_without_a_server_quotes_it() -> None:
    assert parse_error("redis_benchmark_csv", sample("redis-benchmark-refused.txt")) == (
        "redis_benchmark_csv: no CSV header ('\"test\",\"rps\",...') in output; run with "
        "--csv (tool said: 'Could not connect to Redis at 127.0.0.1:16379: Connection refused')")


def test_redis_benchmark_needs_both_commands() -> None:
    text = "\n".join(line for line in sample("redis-benchmark-c1.csv").splitlines()
                     if not line.startswith('"GET"'))
    assert "no GET row in the CSV output" in parse_error("redis_benchmark_csv", text)


def test_sysbench_oltp_without_a_server_quotes_sysbench() -> None:
    assert parse_error("sysbench_oltp", sample("sysbench-oltp-refused.txt")) == (
        "sysbench_oltp: no 'transactions: N (... per sec.)' line in output (tool said: \"FATAL: "
        "unable to connect to MySQL server on host '127.0.0.1', port 13306, aborting...\")")


def test_wrk_counts_http_errors_as_a_failure() -> None:
    assert parse_error("wrk_latency", sample("wrk-not-found.txt")) == (
        "wrk_latency: 75435 of 75435 responses were not 2xx or 3xx: the server did not serve "
        "the file")


def test_wrk_without_a_server_quotes_wrk() -> None:
    assert parse_error("wrk_latency", sample("wrk-refused.txt")) == (
        "wrk_latency: no 'Requests/sec:' line in output (tool said: 'unable to connect to "
        "127.0.0.1:18080 Connection refused')")


@pytest.mark.parametrize(("unit", "ms"), [("us", 0.00164), ("s", 1640.0)])
def test_wrk_latency_units(unit: str, ms: float) -> None:
    text = sample("wrk-latency.txt").replace("99%    1.64ms", f"99%    1.64{unit}")
    assert parse("wrk_latency", text)["latency_p99_ms"] == pytest.approx(ms)


def test_wrk_without_latency_distribution() -> None:
    text = re.sub(r"  Latency Distribution\n(.*%.*\n)+", "", sample("wrk-latency.txt"))
    assert "run with --latency" in parse_error("wrk_latency", text)


def test_hpcc_units_say_what_is_per_process_and_what_is_the_total() -> None:
    units = {m.name: m.unit for m in PARSERS["hpcc"].metrics.values()}
    assert units == {"hpl_gflops": "GFLOP/s (all processes)",
                     "stream_triad_gbs": "GB/s per process", "stream_copy_gbs": "GB/s per process",
                     "random_access_gups": "GUP/s per process"}


def _wrk_with(timeouts: int, completed: int) -> str:
    return sample("wrk-latency.txt").replace(
        "  203468 requests in 3.00s, 841.37MB read\n",
        f"  {completed} requests in 3.00s, 841.37MB read\n"
        f"  Socket errors: connect 0, read 0, write 0, timeout {timeouts}\n")


def test_wrk_fails_a_trial_whose_timeouts_are_left_out_of_its_latency() -> None:
    assert parse_error("wrk_latency", _wrk_with(103, 1965)) == (
        "wrk_latency: 103 of 2068 requests timed out (5.0%, more than 1%): wrk leaves them out "
        "of its latency figures, so its percentiles would understate the latency")


def test_wrk_accepts_timeouts_below_the_stated_share() -> None:
    assert parse("wrk_latency", _wrk_with(10, 203468))["latency_p99_ms"] == pytest.approx(1.64)


def test_tool_said_never_quotes_a_line_reporting_no_errors() -> None:
    text = sample("sysbench-oltp-read-write.txt").split("General statistics:")[0]
    assert "ignored errors" in text
    assert parse_error("sysbench_oltp", text) == (
        "sysbench_oltp: no 'Latency (ms):' section in output")


def test_stress_ng_per_switch_figure_is_stress_ngs_own_for_several_instances() -> None:
    """Two instances: 1e9 / bogo ops/s would give half the figure stress-ng reports."""
    text = sample("stress-ng-switch.yaml").replace(
        "bogo-ops-per-second-real-time: 113221.509846",
        "bogo-ops-per-second-real-time: 629326.620").replace(
        "nanosecs-per-context-switch-pipe-method: 8829.779954",
        "nanosecs-per-context-switch-pipe-method: 3178.0")
    assert parse("stress_ng_switch", text) == {"context_switch_ns": 3178.0}
