"""The run report, written from synthetic runs stored in a real results database."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from hostbench.analysis.overheads import analyse
from hostbench.commands.report import run_report
from hostbench.report.compare_report import write_comparison_report
from hostbench.report.render import md_text
from hostbench.report.run_report import ReportPaths, write_report
from hostbench.report.text import number
from hostbench.results.store import Store
from tests.conftest import LEGACY_DB
from tests.unit.synthetic_runs import ENVS, figures_undrawn, make_run, two_metric_values

TCG_RUN = "20261126-150850-a874"
KVM_RUN = "20261126-160000-b001"
N_METRICS = 2
EMBEDDED = re.compile(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"|<svg')


def _noisy_values() -> dict[tuple[str, str], list[float]]:
    values = two_metric_values(vm_factor=2.0)
    # RSD well above 10%, and 400 is an outlier by modified z-score among the container's trials.
    values[("read_lat_p99_us", "container")] = [199.0, 201.0, 200.0, 202.0, 400.0]
    return values


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[ReportPaths, Store]]:
    """A TCG run with a parity override, a failed trial and a noisy metric; a clean KVM run.
    Only the TCG run's figures are drawn: the KVM run's are the same kinds, of the same metrics
    and environments, without its outlier (the checks of the KVM report read its text, and
    that its figures are embedded and linked as files)."""
    root = tmp_path_factory.mktemp("report")
    store = Store(root / "hostbench.sqlite")
    make_run(store, TCG_RUN, _noisy_values(), vm_accel="tcg", overridden=True,
             failed=[("cpu-sysbench", "vm")])
    make_run(store, KVM_RUN, two_metric_values(), vm_accel="kvm")
    found = {TCG_RUN: (write_report(store.load(TCG_RUN), root / TCG_RUN), store)}
    with pytest.MonkeyPatch.context() as patch:
        figures_undrawn(patch)
        found[KVM_RUN] = (write_report(store.load(KVM_RUN), root / KVM_RUN), store)
    return found


def _html(reports, run: str) -> str:
    return reports[run][0].html.read_text()


def test_files_are_written_side_by_side(reports):
    for paths, _ in reports.values():
        assert paths.html.is_file() and paths.markdown.is_file()
        assert paths.html.parent == paths.markdown.parent
        assert paths.html.read_text().startswith("<!doctype html>")


def test_headline_numbers_come_from_the_data(reports):
    paths, store = reports[KVM_RUN]
    html, md = paths.html.read_text(), paths.markdown.read_text()
    run = store.load(KVM_RUN)
    results = analyse(run.measured(), run.record.environments)
    assert len(results) == N_METRICS * 3
    for r in results:
        assert number(r.summary.median) in html
        assert f"<td class=\"num\">{r.summary.n}</td>" in html
        if r.overhead:
            pct = r.overhead.overhead_pct
            for text in (f"{pct.value:+.1f}%", f"[{pct.low:+.1f}, {pct.high:+.1f}]",
                         f"{r.overhead.p_value:.3f}"):
                assert text in html
                assert text in md
    # The VM is 2x slower on both metrics: +50% when higher is better, +100% when lower is.
    vm = {r.metric: r.overhead for r in results if r.env.name == "vm"}
    assert vm["events_per_second"].overhead_pct.value == pytest.approx(100.0)
    assert vm["read_lat_p99_us"].overhead_pct.value == pytest.approx(100.0)
    assert all(o.verdict == "slower" for o in vm.values())
    assert html.count('class="verdict v-slower">slower<') == 2


def test_tcg_banner_only_when_the_vm_ran_under_tcg(reports):
    tcg, kvm = _html(reports, TCG_RUN), _html(reports, KVM_RUN)
    assert 'id="tcg-banner"' in tcg and "software emulation (TCG), not KVM" in tcg
    assert "vm (TCG emulation)" in tcg
    assert 'id="tcg-banner"' not in kvm and "TCG" not in kvm
    assert "[!CAUTION]" in reports[TCG_RUN][0].markdown.read_text()
    assert "[!CAUTION]" not in reports[KVM_RUN][0].markdown.read_text()


def test_html_is_self_contained(reports):
    for run in (TCG_RUN, KVM_RUN):
        html = _html(reports, run)
        assert not re.search(r"https?://", html)
        assert not re.search(r"<script|<link", html, re.I)
        sources = re.findall(r'src="([^"]*)"', html)
        assert sources and all(s.startswith("data:image/png;base64,") for s in sources)


def test_every_plot_is_embedded(reports):
    for run in (TCG_RUN, KVM_RUN):
        found = EMBEDDED.findall(_html(reports, run))
        assert len(found) == 1 + N_METRICS  # the overview, then trials + drift per metric
        for data in found:
            assert base64.b64decode(data).startswith(b"\x89PNG")


def test_warnings(reports):
    html = _html(reports, TCG_RUN)
    warnings = html[html.index('id="warnings"'):html.index('id="host"')]
    assert re.search(r"disk-fio-randread read_lat_p99_us on container: RSD \d+\.\d% over 5 "
                     r"measured trials \(above 10%\)", warnings)
    assert "trial 5 = 400 is an outlier" in warnings
    assert "failed trial" in warnings and "sysbench exited 137: Killed (out of memory)" in warnings
    assert "parity override" in warnings and "container: usable CPU list" in warnings
    assert 'id="override-banner"' in html
    assert '<td class="mono fail">0-7' in html  # the failed parity check, highlighted
    clean = _html(reports, KVM_RUN)
    assert "Warnings (0)" in clean and "override-banner" not in clean
    assert "FAILED" not in clean and 'class="mono fail"' not in clean


def test_markdown_links_existing_pngs(reports):
    for paths, _ in reports.values():
        md = paths.markdown.read_text()
        links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md)
        assert len(links) == 1 + N_METRICS  # the overview, then one per metric
        for link in links:
            target = paths.markdown.parent / link
            assert link.endswith(".png") and target.is_file()
            assert target.read_bytes().startswith(b"\x89PNG")


def test_reproduce_section(reports):
    html = _html(reports, KVM_RUN)
    reproduce = html[html.index('id="reproduce"'):]
    for command in ("scripts/build-image", ".venv/bin/fab up --stack lab",
                    "pulumi up --stack lab",
                    ".venv/bin/fab benchmark --stack lab --repeat 5 --warmup 1",
                    ".venv/bin/fab down --stack lab"):
        assert command in reproduce
    assert "hostbench:cores: [2, 3]" in reproduce and "hostbench:memory_mib: 2048" in reproduce


def test_a_failing_report_only_warns_at_the_end_of_a_run(tmp_path: Path, monkeypatch, capsys):
    from hostbench.commands.session import write_outputs

    with Store(tmp_path / "hostbench.sqlite") as store:
        make_run(store, KVM_RUN, {("events_per_second", env): [1.0, 1.1] for env in ENVS},
                 warmup=0)
        blocker = tmp_path / "not-a-directory"
        blocker.write_text("")
        monkeypatch.setenv("HOSTBENCH_RESULTS_DIR", str(blocker))  # the report cannot be written
        write_outputs(store.load(KVM_RUN))
        assert store.get_run(KVM_RUN).status == "complete"
    out = capsys.readouterr().out
    assert f"could not write the report of run {KVM_RUN}" in out
    assert f"fab report --run {KVM_RUN}" in out


def test_fab_report_of_a_database_written_before_runs_had_a_format(tmp_path: Path, monkeypatch,
                                                                   capsys):
    """`fab report` prints an old run's summary, then writes its files where runs go."""
    results = tmp_path / "results"
    results.mkdir()
    (results / "hostbench.sqlite").write_bytes(LEGACY_DB.read_bytes())
    monkeypatch.setenv("HOSTBENCH_RESULTS_DIR", str(results))
    monkeypatch.setenv("COLUMNS", "160")  # as a terminal would be; pytest's capture has none
    paths = run_report("20261120-110000-bbbb")
    out = capsys.readouterr().out
    assert "run 20261120-110000-bbbb" in out and "vm (TCG emulation)" in out
    assert out.index("overhead vs bare") < out.index(str(paths.html))
    assert paths.html == results / "runs" / "20261120-110000-bbbb" / "report.html"
    assert paths.markdown == paths.html.with_name("report.md") and paths.markdown.is_file()
    html = paths.html.read_text()
    assert 'id="tcg-banner"' in html and "vm (TCG emulation)" in html
    assert "failed trial" in html and "parity override" in html
    assert "+400.0%" in html  # the VM 5x slower on events per second, as stored
    assert "vm: TCG (software emulation, not KVM)" in html
    assert "this run recorded no margin: the default is applied" in html
    assert "stored before runs kept their workload catalogue" in html  # today's is read
    with Store(results / "hostbench.sqlite") as store:
        kvm, tcg = store.load("20261120-100000-aaaa"), store.load("20261120-110000-bbbb")
    assert kvm.record.label("vm") == "vm (KVM)"
    figures_undrawn(monkeypatch)  # a comparison's figure: tests/unit/analysis/test_compare.py
    compared = write_comparison_report(kvm, tcg, tmp_path / "cmp").read_text()
    assert "vm (kvm in A, tcg in B)" in compared


def test_a_run_with_variants_shows_what_each_factor_costs(tmp_path: Path):
    values = {key: v for key, v in two_metric_values().items() if key[0] == "events_per_second"}
    values[("events_per_second", "container-hostnet")] = [1100.0, 1105.0, 1098.0, 1102.0,
                                                           1101.0]
    with Store(tmp_path / "hostbench.sqlite") as store:
        make_run(store, KVM_RUN, values, envs=(*ENVS, "container-hostnet"))
        paths = write_report(store.load(KVM_RUN), tmp_path / "out")
    html, md = paths.html.read_text(), paths.markdown.read_text()
    factors = html[html.index('id="factors"'):html.index('id="warnings"')]
    assert "container-hostnet vs container" in factors and "network: host" in factors
    assert "<b>-9.2%</b>" in factors and ">faster<" in factors  # 1101 against 1000 events/s
    assert "## Factor effects" in md and "plots/factor-effects.png" in md
    assert (paths.markdown.parent / "plots" / "factor-effects.png").is_file()
    assert "<td>container-hostnet</td><td>container</td><td>container</td><td>network: host</td>" \
        in html  # the environments table


def test_a_run_without_variants_has_no_factor_section(reports):
    assert 'id="factors"' not in _html(reports, KVM_RUN)
    assert "## Factor effects" not in reports[KVM_RUN][0].markdown.read_text()


HOSTILE = ("<script>alert(1)</script> [click](http://evil.example) **loud** __bold__ `tick` "
           "a|b\nnext")


def test_hostile_text_is_escaped_in_the_markdown_report(tmp_path: Path, monkeypatch):
    from dataclasses import replace

    from hostbench.run.run_records import TrialRecord

    figures_undrawn(monkeypatch)  # no hostile text reaches them: kinds the reports fixture draws

    with Store(tmp_path / "hostbench.sqlite") as store:
        make_run(store, KVM_RUN, two_metric_values(), warmup=0)
        store.add_trial(TrialRecord(run_id=KVM_RUN, workload="cpu-sysbench", env="vm", trial=9,
                                    warmup=False, position=0, status="failed", command="run",
                                    started_at="2026-11-26T16:00:00+00:00", error=HOSTILE))
        run = store.load(KVM_RUN)
    assert run.record.host is not None
    host = run.record.host.model_copy(update={"cpu_model": HOSTILE,
                                              "versions": {"tool_x": "1.0 `x` <b>"}})
    run = replace(run, record=run.record.model_copy(update={"host": host}))
    md = write_report(run, tmp_path / "out").markdown.read_text()
    text = re.sub(r"```.*?```", "", md, flags=re.S)  # code blocks show any text as it is
    assert "<script>" not in text and "\\<script\\>" in text
    assert "[click](http" not in text and "[click\\](http" in text and "**loud**" not in text
    assert "__bold__" not in text and "\\_\\_bold\\_\\_" in text
    assert "a\\|b" in md
    assert "tool_x `1.0 'x' <b>`" in md  # a code span shows its text as it is
    links = re.findall(r"\]\((plots/[^)]*)\)", md)
    assert links and all("\\" not in link and (tmp_path / "out" / link).is_file()
                          for link in links)


@pytest.mark.parametrize(("hostile", "inert"), [
    ("see https://evil.invalid/x", "https\\://evil.invalid/x"),
    ("see www.evil.invalid", "www\\.evil.invalid"),
    ("mail root@evil.invalid", "root\\@evil.invalid"),
    ("~~struck~~ out", "\\~\\~struck\\~\\~ out"),
])
def test_autolinks_and_strikethrough_stay_text_in_markdown(hostile, inert):
    """GitHub's Markdown links bare URLs, www. names and e-mail addresses and strikes ~~text~~;
    each is escaped where it would start."""
    assert md_text(hostile).endswith(inert)
    html = MarkdownIt("commonmark").enable("strikethrough").render(md_text(hostile))
    assert "<s>" not in html and "<a " not in html
