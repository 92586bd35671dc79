"""A lifecycle run stored in a real results database, summarised and reported like `fab
lifecycle` and `fab report` do: steps with CIs, the VM against the container with a verdict,
bare metal's zero footprint, density, the raw per-instance timings in the exports."""

from __future__ import annotations

import csv
import io

import pytest
from rich.console import Console

from hostbench.report.run_report import publish
from hostbench.report.summary import print_summary
from hostbench.results.store import Store
from hostbench.run.lifecycle import Recorder
from hostbench.run.lifecycle_metrics import DENSITY, DENSITY_STEP, FOOTPRINT, READY, SETUP
from hostbench.run.run_records import (
    BenchmarkOptions,
    DensityOutcome,
    LifecycleSettings,
    RunRecord,
    timestamp,
)
from hostbench.stack.environments import BARE_METAL, Environment, Kind
from tests.unit.synthetic_runs import spec

RUN = "20261130-170000-abcd"
VM = Environment(name="vm", kind=Kind.VM, accel="tcg")
CONTAINER = Environment(name="container", kind=Kind.CONTAINER)


def _ready(total: float) -> dict[str, float]:
    steps = {"create_s": 0.1, "start_s": 0.2, "address_s": total * 0.8, "sshd_s": total * 0.1,
             "login_s": total * 0.1 - 0.3}
    return {**steps, "ready_s": sum(steps.values()), "remove_s": total / 20}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    store = Store(tmp_path_factory.mktemp("lifecycle") / "hostbench.sqlite")
    settings = LifecycleSettings(settle_s=20, idle_window_s=10, poll_s=0.1, margin_pct=10,
                                 density=True, density_max=2, density_memory_mib=256,
                                 memory_budget_mib=4000, time_budget_s=600, ksm="off (run=0)")
    store.create_run(RunRecord(
        id=RUN, started_at=timestamp(), stack="lab", suite="lifecycle",
        environments=(BARE_METAL, VM, CONTAINER), spec=spec("tcg"), lifecycle=settings,
        options=BenchmarkOptions(stack="lab", purpose="lifecycle", repeat=5),
        command_line="fab lifecycle --stack lab --density"))
    recorder = Recorder(RUN, store.add_trial)
    recorder.record(SETUP, "vm", {"network_s": 0.1, "pool_s": 0.01, "image_import_s": 2.5})
    for i in range(5):
        recorder.record(READY, "vm", _ready(30.0 + i), trial=i + 1)
        recorder.record(FOOTPRINT, "vm", {"memory_mib": 900.0 + i, "pss_mib": 900.0 + i,
                                          "rss_mib": 910.0, "idle_cpu_pct": 2.0 + i / 10,
                                          "disk_mib": 130.0}, trial=i + 1)
        recorder.record(READY, "container", _ready(1.5 + i / 10), trial=i + 1)
        recorder.record(FOOTPRINT, "container", {"memory_mib": 20.0 + i, "pss_mib": 21.0,
                                                 "rss_mib": 22.0, "idle_cpu_pct": 0.1 + i / 100,
                                                 "disk_mib": 0.01}, trial=i + 1)
    recorder.record(READY, "vm", {}, trial=6, error="VM hostbench-lab stopped during boot")
    for env, start, memory in (("vm", 31.0, 830.0), ("container", 1.1, 12.0)):
        for n in (1, 2):
            recorder.record(DENSITY, env, {**_ready(start * n), "instances": n}, trial=n)
            recorder.record(DENSITY_STEP, env, {
                "instances": n, "answering": n, "host_memory_mib": memory * n,
                "marginal_mib": memory, "attributed_mib": memory + 5}, trial=n)
    store.set_lifecycle(RUN, settings.model_copy(update={"density_outcomes": (
        DensityOutcome(env="vm", instances=2, stopped="reached the maximum of 2"),)}))
    store.finish_run(RUN, "failed", None, None, 600.0)
    return store.load(RUN)


def test_the_summary_shows_steps_footprint_the_verdict_and_density(run):
    console = Console(record=True, width=200)
    print_summary(run, console)
    text = console.export_text()
    assert "time to ready" in text and "network address" in text and "remove" in text
    assert "bare (by definition)" in text
    slower = [line for line in text.splitlines() if line.startswith("│ total to ready")]
    assert slower and "slower" in slower[0]  # 5 against 5, 20x apart: p = 0.008
    held = [line for line in text.splitlines() if line.startswith("│ host memory")]
    assert held and held[0].rstrip(" │").endswith("more")  # a footprint is not "slower"
    assert "density" in text and "reached the maximum of 2" in text
    assert "VM hostbench-lab stopped during boot" in text
    assert "TCG" in text and "KSM off" in text


def test_the_report_and_exports_carry_every_measurement(run, tmp_path):
    paths, exports = publish(run, tmp_path)
    html = paths.html.read_text()
    for section in ("Time to ready", "Idle footprint", "The VM against the container",
                    "Density", "tcg-banner", "data:image/png;base64"):
        assert section in html, section
    assert html.count("data:image/png;base64") == 2  # where the time goes, and density
    markdown = paths.markdown.read_text()
    assert "bare (by definition)" in markdown and markdown.count("](plots/") == 2
    rows = list(csv.DictReader(io.StringIO(next(p for p in exports
                                                 if p.suffix == ".csv").read_text())))
    density = [r for r in rows if r["workload"] == DENSITY and r["metric"] == "ready_s"]
    assert sorted((r["environment"], r["trial"]) for r in density) == [
        ("container", "1"), ("container", "2"), ("vm", "1"), ("vm", "2")]
    assert len([r for r in rows if r["workload"] == READY and r["metric"] == "ready_s"]) == 10
