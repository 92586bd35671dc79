"""The one poll loop: the first truthy answer, or None once the time is up."""

from __future__ import annotations

import pytest

from hostbench.polling import wait_until


class Clock:
    """Time that passes only when the loop sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.pauses: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.pauses.append(seconds)
        self.now += seconds


def test_the_first_truthy_answer_is_returned_without_waiting_more():
    clock, answers = Clock(), iter([None, 0, "ready", "later"])
    assert wait_until(lambda: next(answers), 10, 1, clock=lambda: clock.now,
                      sleep=clock.sleep) == "ready"
    assert clock.pauses == [1, 1]


def test_past_the_timeout_there_is_no_answer_after_one_last_look():
    clock, looks = Clock(), []
    assert wait_until(lambda: looks.append(clock.now), 2.5, 1, clock=lambda: clock.now,
                      sleep=clock.sleep) is None
    assert looks == [0, 1, 2, 3]


def test_the_pause_doubles_up_to_its_most():
    clock = Clock()
    wait_until(lambda: False, 1, 0.1, max_interval_s=0.3, clock=lambda: clock.now,
               sleep=clock.sleep)
    assert clock.pauses == pytest.approx([0.1, 0.2, 0.3, 0.3, 0.3])


def test_a_check_that_raises_gives_up_at_once():
    def gone() -> bool:
        raise RuntimeError("the process exited")

    with pytest.raises(RuntimeError, match="exited"):
        wait_until(gone, 10, 1, sleep=lambda _: pytest.fail("slept"))
