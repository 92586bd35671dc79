"""Turn the text output of each benchmark tool into named metrics.

Every parser takes the tool's captured output (stdout, optionally with stderr appended) and
returns ``{metric_name: value}``; the metric names carry their unit (``latency_avg_us``).
Each parser declares, where it is registered, the unit of each metric and whether higher is
better: workloads name the metrics they keep, and samples take unit and direction from here.
A parser never guesses: output it cannot read raises ``ParseError``, quoting what it looked
for and, when the tool printed an error instead of results, that error line.

Tool quirks these parsers handle (seen on Debian 12 versions of the tools):

* ``iperf3 -J`` and ``sockperf`` exit with status 0 even when they cannot reach the server,
  so a run's exit status alone does not prove it produced results.
* ``fio --output-format=json`` prints notes and job errors (``fio: ...``) on stdout before
  the JSON document.
* ``sockperf`` wraps some lines in ANSI colour escapes.
* ``redis-benchmark`` and ``wrk`` exit with status 0 when every request failed (wrk counts
  HTTP errors as "Non-2xx or 3xx responses"); redis-benchmark keeps retrying a server that is
  not there, so only the trial's timeout ends it.
* ``stress-ng --yaml /dev/stdout`` writes its results to stdout and its log to stderr; the
  ``--metrics`` table in the log is for people, the YAML document is what is parsed.
"""

from __future__ import annotations

import csv
import json
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import yaml

from hostbench.datafiles import MAX_NESTING, nesting
from hostbench.errors import HostbenchError

ParseFunction = Callable[[str], dict[str, float]]


class ParseError(HostbenchError):
    """A tool's output does not contain the results a parser needs."""

    def __init__(self, parser_name: str, problem: str) -> None:
        self.parser_name, self.problem = parser_name, problem
        super().__init__(f"{parser_name}: {problem}")


class UnknownParserError(HostbenchError):
    """No parser has the requested name."""

    def __init__(self, name: str, known: Iterable[str]) -> None:
        self.name, self.known = name, sorted(known)
        super().__init__(f"unknown parser {name!r}; known parsers: {', '.join(self.known)}")


@dataclass(frozen=True)
class Metric:
    """What a metric measures: its unit and which direction is good."""

    name: str
    unit: str
    higher_is_better: bool


@dataclass(frozen=True)
class Parser:
    """A parser and the metrics it reports (always all of them), declared once, here."""

    name: str
    metrics: dict[str, Metric]
    function: ParseFunction

    def __call__(self, text: str) -> dict[str, float]:
        if not text.strip():
            raise ParseError(self.name, "output is empty")
        try:
            values = self.function(text)
        except ParseError:
            raise
        except Exception as exc:  # output no tool writes: the trial's failure, not the run's
            raise ParseError(self.name, f"output could not be read ({type(exc).__name__}: "
                                        f"{str(exc)[:200]})") from None
        assert set(values) == set(self.metrics), f"{self.name} reports what it declares"
        for metric, value in values.items():
            if not math.isfinite(value):  # e.g. a finite figure scaled past the largest float
                raise ParseError(self.name, f"{metric} is {value:g} {self.metrics[metric].unit}"
                                            ": not a finite number, so not a measurement")
            if value < 0:  # rates, times and counts all: a sign means the output is not sane
                raise ParseError(self.name, f"{metric} is {value:g} {self.metrics[metric].unit}"
                                            ": a negative value cannot be a measurement")
        return values


PARSERS: dict[str, Parser] = {}
"""Every parser by name; see ``parse``."""


def _parser(name: str, *metrics: Metric) -> Callable[[ParseFunction], ParseFunction]:
    """Register the decorated function as parser ``name`` reporting ``metrics``."""

    def register(func: ParseFunction) -> ParseFunction:
        PARSERS[name] = Parser(name, {m.name: m for m in metrics}, func)
        return func

    return register


def parser(name: str) -> Parser:
    try:
        return PARSERS[name]
    except KeyError:
        raise UnknownParserError(name, PARSERS) from None


def parse(name: str, text: str) -> dict[str, float]:
    """Parse ``text`` with the parser called ``name``."""
    return parser(name)(text)


# --- helpers -------------------------------------------------------------------------------

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_NUMBER = r"([0-9][0-9,]*(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?)"


def _to_float(parser: str, raw: str, what: str) -> float:
    """``raw`` (possibly with thousands separators) as a finite float."""
    try:
        value = float(raw.replace(",", ""))
    except ValueError:
        raise ParseError(parser, f"{what}: {raw!r} is not a number") from None
    if not math.isfinite(value):
        raise ParseError(parser, f"{what}: {raw!r} is not a finite number")
    return value


_NO_ERRORS = re.compile(r"\b(errors?|failures?|failed)\b\W*0+(\.0+)?(\s|$)", re.IGNORECASE)
"""A line that counts zero errors ('ignored errors: 0 (0.00 per sec.)'): never the tool's error."""


def _tool_said(text: str, pattern: str) -> str:
    """`` (tool said: '<line>')`` for the first line matching ``pattern`` (and not reporting
    zero errors), else ``''``."""
    for line in _ANSI.sub("", text).splitlines():
        if re.search(pattern, line) and not _NO_ERRORS.search(line):
            return f" (tool said: {line.strip()!r})"
    return ""


def _search(parser: str, pattern: str, text: str, what: str, errors: str) -> float:
    """The number captured by ``pattern`` in ``text``; ``what`` names it in the error."""
    match = re.search(pattern, text, re.MULTILINE)
    if match is None:
        raise ParseError(parser, f"no {what} in output{_tool_said(text, errors)}")
    return _to_float(parser, match.group(1), what)


def _json_document(parser: str, text: str, errors: str) -> dict[str, Any]:
    """The JSON object in ``text``, skipping any non-JSON lines printed before it."""
    match = re.search(r"^\s*\{", text, re.MULTILINE)
    if match is None:
        raise ParseError(parser, f"no JSON object in output{_tool_said(text, errors)}")
    try:
        document, _ = json.JSONDecoder().raw_decode(text, match.end() - 1)
    except json.JSONDecodeError as exc:
        raise ParseError(parser, f"JSON output is invalid or truncated: {exc}") from None
    except RecursionError:
        raise ParseError(parser, "JSON output is nested too deeply to be a tool's report") from None
    if not isinstance(document, dict):
        raise ParseError(parser, "JSON output is not an object")
    return document


def _get(parser: str, data: Any, path: str, document: str = "JSON") -> Any:
    """``data[k1][k2]...`` for ``path`` 'k1.k2...'; a missing key names the whole path."""
    for key in path.split("."):
        if not isinstance(data, dict) or key not in data:
            raise ParseError(parser, f"{document} output has no '{path}'")
        data = data[key]
    return data


def _json_number(parser: str, data: Any, path: str, scale: float = 1.0) -> float:
    """The number at ``path`` multiplied by ``scale``."""
    return _finite(parser, _get(parser, data, path), path) * scale


def _finite(parser: str, value: Any, path: str, document: str = "JSON") -> float:
    """``value`` (found at ``path``) as a float; anything else but a number is an error."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ParseError(parser, f"{document} '{path}' is {value!r}, not a number")
    if not math.isfinite(value):
        raise ParseError(parser, f"{document} '{path}' is {value!r}, not a finite number")
    return float(value)


# --- sysbench ------------------------------------------------------------------------------

_SYSBENCH_ERRORS = r"FATAL|invalid option|[Ee]rror|[Uu]nknown|[Ff]ailed"


@_parser("sysbench_cpu", Metric("events_per_second", "events/s", True),
         Metric("latency_avg_ms", "ms", False))
def sysbench_cpu(text: str) -> dict[str, float]:
    """``sysbench cpu run``: events per second and average event latency (ms)."""
    name = "sysbench_cpu"
    return {
        "events_per_second": _search(name, rf"^\s*events per second:\s*{_NUMBER}[ \t]*$", text,
                                     "'events per second' line", _SYSBENCH_ERRORS),
        "latency_avg_ms": _sysbench_latency_avg(name, text),
    }


def _sysbench_latency_avg(name: str, text: str) -> float:
    """The 'avg:' line of sysbench's 'Latency (ms):' block."""
    block = re.search(r"^Latency \(ms\):[ \t]*\n((?:[ \t]+.*\n?)*)", text, re.MULTILINE)
    if block is None:
        raise ParseError(name, "no 'Latency (ms):' section in output"
                               f"{_tool_said(text, _SYSBENCH_ERRORS)}")
    return _search(name, rf"^\s*avg:\s*{_NUMBER}[ \t]*$", block.group(1),
                   "'avg:' line in the 'Latency (ms):' section", _SYSBENCH_ERRORS)


@_parser("sysbench_memory", Metric("mib_per_second", "MiB/s", True))
def sysbench_memory(text: str) -> dict[str, float]:
    """``sysbench memory run``: transfer rate in MiB/s."""
    return {
        "mib_per_second": _search(
            "sysbench_memory", rf"MiB transferred \({_NUMBER} MiB/sec\)", text,
            "'MiB transferred (... MiB/sec)' line", _SYSBENCH_ERRORS),
    }


# --- fio -----------------------------------------------------------------------------------

_FIO_ERRORS = r"^fio: |[Ee]rror"


def _fio_p99_us(name: str, side: str, stats: dict[str, Any]) -> float:
    """The 99th percentile completion latency (us) of one direction."""
    for key, to_us in (("clat_ns", 1e-3), ("clat", 1.0)):
        found = stats.get(key)
        percentiles = found.get("percentile") if isinstance(found, dict) else None
        if not isinstance(percentiles, dict):
            continue
        for percent in percentiles:
            if _is_p99(percent):
                where = f"{side}.{key}.percentile[{percent!r}]"
                return _finite(name, percentiles[percent], where) * to_us
    raise ParseError(name, f"JSON {side!r} has no 99th percentile of completion latency in "
                           "'clat_ns.percentile' (run with fio's default clat_percentiles, "
                           "not lat_percentiles)")


def _is_p99(key: str) -> bool:
    """Whether a fio percentile key ('99.000000') is the 99th percentile."""
    try:
        return float(key) == 99.0
    except ValueError:
        return False


def _fio_lat_avg_us(name: str, side: str, job: dict[str, Any]) -> float:
    """Mean completion latency of one direction in us (the same kind as its p99)."""
    if "clat" in job[side] and "clat_ns" not in job[side]:
        return _json_number(name, job, f"{side}.clat.mean")  # older fio: us
    return _json_number(name, job, f"{side}.clat_ns.mean", 1e-3)


_FIO_DID = {"read": "reads", "write": "writes"}


def _fio(name: str, text: str, sides: tuple[str, ...]) -> dict[str, float]:
    """IOPS, bandwidth (MiB/s), mean and p99 completion latency (us) of each direction in
    ``sides`` (fio's ``lat`` adds submission latency; one kind is reported, named in the unit).

    Several jobs (without ``group_reporting``) are combined: IOPS and bandwidth add up, the
    mean latency is weighted by I/O count and the p99 is the worst job's.
    """
    document = _json_document(name, text, _FIO_ERRORS)
    jobs = _get(name, document, "jobs")
    if not isinstance(jobs, list) or not jobs:
        raise ParseError(name, "JSON 'jobs' is empty")
    values: dict[str, float] = {}
    for side in sides:
        iops = bw = weighted_lat = ios = p99 = 0.0
        for job in jobs:
            if not isinstance(job, dict):
                raise ParseError(name, "JSON 'jobs' holds a non-object")
            label = job.get("jobname", "?")
            if job.get("error"):
                raise ParseError(name, f"job {label!r} failed with error {job['error']}"
                                       f"{_tool_said(text, r'^fio: .*error=')}")
            stats = _get(name, job, side)
            if not isinstance(stats, dict):
                raise ParseError(name, f"JSON {side!r} of job {label!r} is not an object")
            total = _json_number(name, job, f"{side}.total_ios")
            if total <= 0:
                raise ParseError(name, f"job {label!r} did no {_FIO_DID[side]} "
                                       f"('{side}.total_ios' is 0)")
            iops += _json_number(name, job, f"{side}.iops")
            if "bw_bytes" in stats:
                bw += _json_number(name, job, f"{side}.bw_bytes", 1 / 2**20)
            else:
                bw += _json_number(name, job, f"{side}.bw", 1 / 2**10)  # older fio: KiB/s
            weighted_lat += _fio_lat_avg_us(name, side, job) * total
            ios += total
            p99 = max(p99, _fio_p99_us(name, side, stats))
        values |= {f"{side}_iops": iops, f"{side}_bw_mibps": bw,
                   f"{side}_lat_avg_us": weighted_lat / ios, f"{side}_lat_p99_us": p99}
    return values


FIO_LATENCY = "us (completion latency)"
"""fio's completion latency (clat): its default percentiles are of it, so the mean is too."""


def _fio_metrics(side: str) -> tuple[Metric, ...]:
    return (Metric(f"{side}_iops", "IO/s", True), Metric(f"{side}_bw_mibps", "MiB/s", True),
            Metric(f"{side}_lat_avg_us", FIO_LATENCY, False),
            Metric(f"{side}_lat_p99_us", FIO_LATENCY, False))


@_parser("fio_json", *_fio_metrics("read"))
def fio_json(text: str) -> dict[str, float]:
    """``fio --output-format=json`` of a reading job: read IOPS, MiB/s, mean and p99 latency."""
    return _fio("fio_json", text, ("read",))


@_parser("fio_json_write", *_fio_metrics("write"))
def fio_json_write(text: str) -> dict[str, float]:
    """``fio --output-format=json`` of a writing job: the same figures for the writes."""
    return _fio("fio_json_write", text, ("write",))


@_parser("fio_json_rw", *_fio_metrics("read"), *_fio_metrics("write"))
def fio_json_rw(text: str) -> dict[str, float]:
    """``fio --output-format=json`` of a mixed job: reads and writes, each on its own."""
    return _fio("fio_json_rw", text, ("read", "write"))


# --- iperf3 --------------------------------------------------------------------------------


@_parser("iperf3_json", Metric("throughput_gbps", "Gbit/s", True),
         Metric("retransmits", "segments", False))
def iperf3_json(text: str) -> dict[str, float]:
    """``iperf3 -J`` (TCP): receiver throughput in Gbit/s and the sender's retransmits."""
    name = "iperf3_json"
    document = _json_document(name, text, r"^iperf3: ")
    if document.get("error"):
        raise ParseError(name, f"iperf3 reported an error: {document['error']!r}")
    return {
        "throughput_gbps": _json_number(name, document, "end.sum_received.bits_per_second",
                                        1e-9),
        "retransmits": _json_number(name, document, "end.sum_sent.retransmits"),
    }


# --- sockperf ------------------------------------------------------------------------------

_SOCKPERF_ERRORS = r"ERROR|[Ee]rror|No messages were received"


@_parser("sockperf_pingpong", Metric("latency_avg_us", "us", False),
         Metric("latency_p99_us", "us", False))
def sockperf_pingpong(text: str) -> dict[str, float]:
    """``sockperf ping-pong``: average and 99th percentile one-way latency in us.

    sockperf reports half the round-trip time as "latency" unless run with --full-rtt, whose
    output (``avg-rtt``) this parser rejects rather than mixing the two.
    """
    name = "sockperf_pingpong"
    plain = _ANSI.sub("", text)
    if "avg-rtt=" in plain:
        raise ParseError(name, "output reports full round-trip times ('avg-rtt'); "
                               "run without --full-rtt")
    return {
        "latency_avg_us": _search(name, rf"avg-latency={_NUMBER}", plain,
                                  "'avg-latency=' line", _SOCKPERF_ERRORS),
        "latency_p99_us": _search(name, rf"--->\s*percentile 99\.0+\s*=\s*{_NUMBER}", plain,
                                  "'percentile 99.000' line", _SOCKPERF_ERRORS),
    }


# --- hpcc ----------------------------------------------------------------------------------

@_parser("hpcc", Metric("hpl_gflops", "GFLOP/s (all processes)", True),
         Metric("stream_triad_gbs", "GB/s per process", True),
         Metric("stream_copy_gbs", "GB/s per process", True),
         Metric("random_access_gups", "GUP/s per process", True))
def hpcc(text: str) -> dict[str, float]:
    """HPC Challenge's output file (``hpccoutf.txt``): from its summary section, HPL in GFLOP/s
    and, per MPI process (all running at once, "Star"), STREAM Triad and Copy in GB/s and
    RandomAccess in GUP/s."""
    name = "hpcc"
    section = re.search(r"^Begin of Summary section\.$(.*?)^End of Summary section\.$", text,
                        re.MULTILINE | re.DOTALL)
    if section is None:
        said = _tool_said(text, r"[Ee]rror|ERROR|abort|mpirun (has|was)|not found")
        raise ParseError(name, f"no summary section ('Begin of Summary section.') in output{said}")
    summary = dict(line.split("=", 1) for line in section.group(1).splitlines() if "=" in line)
    if summary.get("Success") != "1":
        raise ParseError(name, f"hpcc reports Success={summary.get('Success', 'missing')} "
                               "(a kernel failed its verification; see the output file)")

    def value(key: str, scale: float = 1.0) -> float:
        if key not in summary:
            raise ParseError(name, f"summary section has no {key}")
        number = _to_float(name, summary[key], key) * scale
        if number <= 0:
            raise ParseError(name, f"summary section has {key}={summary[key]}: the kernel did "
                                   "not run")
        return number

    return {"hpl_gflops": value("HPL_Tflops", 1000.0),
            "stream_triad_gbs": value("StarSTREAM_Triad"),
            "stream_copy_gbs": value("StarSTREAM_Copy"),
            "random_access_gups": value("StarRandomAccess_GUPs")}


# --- stress-ng -----------------------------------------------------------------------------

_STRESS_NG_ERRORS = r"stress-ng: (error|fail)|must be one of|[Uu]nrecognized"


@_parser("stress_ng_switch", Metric("context_switch_ns", "ns", False))
def stress_ng_switch(text: str) -> dict[str, float]:
    """``stress-ng --switch N --metrics --yaml /dev/stdout``: wall time per context switch in ns
    (stress-ng's own figure; one bogo op is one switch, so it is 1e9 / real-time bogo ops/s)."""
    name = "stress_ng_switch"
    match = re.search(r"^---[ \t]*\n(.*?)^\.\.\.[ \t]*$", text, re.MULTILINE | re.DOTALL)
    if match is None:
        raise ParseError(name, "no YAML document ('---' ... '...') in output"
                               f"{_tool_said(text, _STRESS_NG_ERRORS)}")
    if nesting(match.group(1)) > MAX_NESTING:
        raise ParseError(name, f"YAML output is nested more than {MAX_NESTING} levels deep")
    try:
        document = yaml.safe_load(match.group(1))
    except yaml.YAMLError as exc:
        raise ParseError(name, f"YAML output is invalid: {exc}") from None
    entries = _get(name, document, "metrics", "YAML")
    if not isinstance(entries, list):
        raise ParseError(name, f"YAML 'metrics' is {entries!r}, not a list of stressors")
    switch = [e for e in entries if isinstance(e, dict) and e.get("stressor") == "switch"]
    if len(switch) != 1:
        raise ParseError(name, f"YAML 'metrics' has {len(switch)} 'switch' entries, not 1")
    per_switch = [key for key in switch[0] if key.startswith("nanosecs-per-context-switch")]
    if len(per_switch) != 1:
        raise ParseError(name, "YAML 'switch' entry has no single 'nanosecs-per-context-switch-*'"
                               " key (stress-ng 0.15 or newer reports it)")
    return {"context_switch_ns": _finite(name, switch[0][per_switch[0]], per_switch[0], "YAML")}


# --- services: redis-benchmark, sysbench OLTP, wrk ----------------------------------------

_REDIS_ERRORS = r"Could not connect|[Ee]rror|ERR "
_REDIS_COLUMNS = {"requests_per_second": ("rps", "requests/s", True),
                  "latency_p50_ms": ("p50_latency_ms", "ms", False),
                  "latency_p99_ms": ("p99_latency_ms", "ms", False)}


@_parser("redis_benchmark_csv", *(Metric(f"{test}_{metric}", unit, higher)
                                  for test in ("get", "set")
                                  for metric, (_, unit, higher) in _REDIS_COLUMNS.items()))
def redis_benchmark_csv(text: str) -> dict[str, float]:
    """``redis-benchmark -t get,set --csv``: per command, requests/s and the p50 and p99
    latency in ms (redis-benchmark 7 writes one CSV row per command after a header row)."""
    name = "redis_benchmark_csv"
    rows = list(csv.reader(line for line in text.splitlines() if line.startswith('"')))
    header = next((row for row in rows if row[:2] == ["test", "rps"]), None)
    if header is None:
        raise ParseError(name, "no CSV header ('\"test\",\"rps\",...') in output; run with "
                               f"--csv{_tool_said(text, _REDIS_ERRORS)}")
    by_test = {row[0]: dict(zip(header, row, strict=False)) for row in rows if row is not header}
    values = {}
    for test in ("GET", "SET"):
        if test not in by_test:
            raise ParseError(name, f"no {test} row in the CSV output (run with -t get,set)"
                                   f"{_tool_said(text, _REDIS_ERRORS)}")
        for metric, (column, _, _) in _REDIS_COLUMNS.items():
            if column not in by_test[test]:
                raise ParseError(name, f"{test} row has no {column!r} column")
            values[f"{test.lower()}_{metric}"] = _to_float(name, by_test[test][column],
                                                           f"{test} {column}")
    return values


@_parser("sysbench_oltp", Metric("transactions_per_second", "transactions/s", True),
         Metric("latency_p95_ms", "ms", False))
def sysbench_oltp(text: str) -> dict[str, float]:
    """``sysbench oltp_* run``: transactions per second and the 95th percentile latency (ms)
    of a transaction."""
    name = "sysbench_oltp"
    block = re.search(r"^Latency \(ms\):[ \t]*\n((?:[ \t]+.*\n?)*)", text, re.MULTILINE)
    tps = _search(name, rf"^\s*transactions:\s*[0-9]+\s*\({_NUMBER} per sec\.\)", text,
                  "'transactions: N (... per sec.)' line", _SYSBENCH_ERRORS)
    if block is None:
        raise ParseError(name, "no 'Latency (ms):' section in output"
                               f"{_tool_said(text, _SYSBENCH_ERRORS)}")
    return {"transactions_per_second": tps,
            "latency_p95_ms": _search(name, rf"^\s*95th percentile:\s*{_NUMBER}[ \t]*$",
                                      block.group(1), "'95th percentile:' line (run with the "
                                      "default --percentile=95)", _SYSBENCH_ERRORS)}


_WRK_ERRORS = r"unable to connect|[Ee]rror|[Ii]nvalid|[Uu]sage"
_WRK_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}
WRK_MAX_TIMEOUT_SHARE = 0.01
"""The share of requests (timed out over completed plus timed out) above which a wrk trial
fails: wrk leaves timed-out requests out of its latency figures, so its p99 understates."""


@_parser("wrk_latency", Metric("requests_per_second", "requests/s", True),
         Metric("latency_p99_ms", "ms", False))
def wrk_latency(text: str) -> dict[str, float]:
    """``wrk --latency``: requests per second and the 99th percentile latency in ms. Responses
    that are not 2xx/3xx and connections refused make the run a failure, not a result."""
    name = "wrk_latency"
    rps = _search(name, rf"^Requests/sec:\s*{_NUMBER}[ \t]*$", text, "'Requests/sec:' line",
                  _WRK_ERRORS)
    bad = re.search(r"^\s*Non-2xx or 3xx responses:\s*([0-9]+)", text, re.MULTILINE)
    if bad:
        total = re.search(r"^\s*([0-9]+) requests in", text, re.MULTILINE)
        raise ParseError(name, f"{bad.group(1)} of {total.group(1) if total else '?'} responses "
                               "were not 2xx or 3xx: the server did not serve the file")
    refused = re.search(r"^\s*Socket errors: connect ([0-9]+)", text, re.MULTILINE)
    if refused and int(refused.group(1)) > 0:
        raise ParseError(name, f"{refused.group(1)} connections failed "
                               f"({refused.group(0).strip()})")
    _wrk_timeouts(name, text)
    p99 = re.search(r"^\s*Latency Distribution[ \t]*\n(?:.*\n)*?\s*99%\s*"
                    rf"{_NUMBER}(us|ms|s|m)[ \t]*$", text, re.MULTILINE)
    if p99 is None:
        raise ParseError(name, "no '99%' line under 'Latency Distribution'; run with --latency")
    return {"requests_per_second": rps,
            "latency_p99_ms": _to_float(name, p99.group(1), "99% latency")
                              * _WRK_UNITS[p99.group(2)]}


def _wrk_timeouts(name: str, text: str) -> None:
    """Fail when more than WRK_MAX_TIMEOUT_SHARE of the requests timed out."""
    timeouts = re.search(r"^\s*Socket errors:.*\btimeout ([0-9]+)", text, re.MULTILINE)
    completed = re.search(r"^\s*([0-9]+) requests in", text, re.MULTILINE)
    if timeouts is None or completed is None:
        return
    timed_out, total = int(timeouts.group(1)), int(completed.group(1)) + int(timeouts.group(1))
    if total and timed_out / total > WRK_MAX_TIMEOUT_SHARE:
        raise ParseError(name, f"{timed_out} of {total} requests timed out "
                               f"({timed_out / total:.1%}, more than "
                               f"{WRK_MAX_TIMEOUT_SHARE:.0%}): wrk leaves them out of its "
                               "latency figures, so its percentiles would understate the latency")
