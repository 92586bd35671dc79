"""The noise floor's parts on known-truth A/A data, and when a calibration is stale."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pytest

from hostbench.analysis.calibration import components, stale_reason
from hostbench.analysis.overheads import analyse
from hostbench.run.run_records import RunRecord, Sample
from tests.unit.synthetic_runs import HOST, environment

ENVS = (environment("bare"), environment("bare").model_copy(update={"name": "bare-2"}))


def _aa(within: float, between: float, rounds: int, seed: int) -> list[Sample]:
    gen = np.random.default_rng(seed)
    levels = gen.normal(0.0, between, rounds)
    return [Sample(workload="cpu", env=env, trial=r, warmup=False, position=0, metric="t",
                   value=float(100 * np.exp(levels[r] + gen.normal(0.0, within))), unit="s",
                   higher_is_better=False, timestamp="2026-12-07T00:00:00+00:00")
            for r in range(rounds) for env in ("bare", "bare-2")]


def test_within_and_between_round_spreads_are_told_apart():
    bare, second = analyse(_aa(0.01, 0.03, 400, 1), ENVS)
    within, between = components(bare, second)
    assert within == pytest.approx(0.01, rel=0.1)
    assert between == pytest.approx(0.03, rel=0.1)


def _calibration(**changes: object) -> RunRecord:
    return RunRecord(id="c", started_at="2026-12-01T00:00:00+00:00", stack="local",
                     suite="quick", environments=ENVS, image_hash="abc",
                     host=HOST.model_copy(update=changes))


def test_a_calibration_is_stale_when_the_host_or_image_changed_or_it_is_old():
    now = datetime.fromisoformat("2026-12-07T00:00:00+00:00")
    assert stale_reason(_calibration(), HOST, "abc", now) == ""
    kernel = stale_reason(_calibration(kernel="6.1.0-26-amd64"), HOST, "abc", now)
    assert "the kernel was '6.1.0-26-amd64', now '6.1.0-27-amd64'" in kernel
    assert "image has changed" in stale_reason(_calibration(), HOST, "def", now)
    assert "40 days old" in stale_reason(_calibration(), HOST, "abc", now + timedelta(days=34))
