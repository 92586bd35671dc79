"""The stack lock, held for real by another process (flock), and released when it dies."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from hostbench.paths import PROJECT_ROOT
from hostbench.stack.lock import StackBusy, cores_lock, stack_lock

HOLDER = """
import sys, time
from hostbench.stack.lock import stack_lock
with stack_lock("lab", "fab benchmark --stack lab"):
    print("held", flush=True)
    time.sleep(60)
"""


def test_a_second_holder_is_refused_with_the_first_named_until_it_dies():
    holder = subprocess.Popen([sys.executable, "-c", HOLDER], cwd=PROJECT_ROOT, env=os.environ,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        with pytest.raises(StackBusy) as busy, stack_lock("lab", "fab down"):
            pass
        assert f"PID {holder.pid}" in str(busy.value)
        assert "stack lab is busy: fab benchmark --stack lab" in str(busy.value)
        with stack_lock("other", "fab up"):  # another stack is free
            pass
        holder.send_signal(signal.SIGKILL)  # dies holding it: the lock goes with it
        holder.wait(timeout=10)
        with stack_lock("lab", "fab up"):
            pass
    finally:
        holder.kill()


def test_the_lock_is_released_when_the_block_ends_however_it_ends():
    with pytest.raises(RuntimeError), stack_lock("lab", "first"):
        raise RuntimeError("boom")
    started = time.monotonic()
    with stack_lock("lab", "second"), pytest.raises(StackBusy, match="second"), \
            stack_lock("lab", "third"):
        pass
    assert time.monotonic() - started < 5


CORES_HOLDER = """
import sys, time
from hostbench.stack.lock import cores_lock
with cores_lock(None, [1], "fab benchmark --stack lab"):
    print("held", flush=True)
    time.sleep(60)
"""


def test_stacks_sharing_a_core_measure_one_at_a_time():
    """Another process measures on core 1 of this host: a stack on cores [0, 1] must wait,
    one on core 0 alone, or on core 1 of another host, may measure."""
    holder = subprocess.Popen([sys.executable, "-c", CORES_HOLDER], cwd=PROJECT_ROOT,
                              env=os.environ, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        with pytest.raises(StackBusy) as busy, cores_lock(None, [0, 1], "fab benchmark"):
            pass
        assert "core 1 of this host is measuring for fab benchmark --stack lab" in str(busy.value)
        with cores_lock(None, [0], "fab benchmark"), cores_lock("root@lab1", [1], "fab lab1"):
            pass
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=10)
        with cores_lock(None, [0, 1], "fab benchmark"):
            pass
    finally:
        holder.kill()
