"""The periodic thread (lobbywatch.periodic): steps every interval until stopped, the first at
start when asked, a failing step logged and counted without ending the thread, stop at once
(not after the interval), start again after a stop."""

from __future__ import annotations

import logging
import threading

import pytest

from lobbywatch.periodic import PeriodicThread


def alive(name: str) -> bool:
    return any(t.name == name and t.is_alive() for t in threading.enumerate())


def test_steps_every_interval_until_stopped() -> None:
    steps = 0
    three = threading.Event()

    def step() -> None:
        nonlocal steps
        steps += 1
        if steps == 3:
            three.set()

    timer = PeriodicThread("periodic-test-steps", 0.01, step)
    timer.start()
    timer.start()  # a second start while running does nothing
    assert three.wait(10)
    assert timer.running
    assert not timer.stopping
    timer.stop(5)
    assert not timer.running
    assert timer.stopping
    assert not alive("periodic-test-steps")  # nothing runs after a stop


def test_the_first_step_waits_an_interval_unless_at_start() -> None:
    ran = threading.Event()
    later = PeriodicThread("periodic-test-later", 3600, ran.set)
    later.start()
    later.stop(5)  # wakes the wait: no hour-long join
    assert not alive("periodic-test-later")
    assert not ran.is_set()
    now = PeriodicThread("periodic-test-now", 3600, ran.set, at_start=True)
    now.start()
    assert ran.wait(10)
    now.stop(5)
    assert not alive("periodic-test-now")


def test_a_failing_step_is_logged_and_counted_and_the_next_runs(caplog: pytest.LogCaptureFixture) -> None:
    calls = 0
    recovered = threading.Event()

    def step() -> None:
        nonlocal calls
        calls += 1
        if calls <= 2:
            raise RuntimeError(f"failure {calls}")
        recovered.set()

    timer = PeriodicThread("periodic-test-failing", 0.01, step, at_start=True)
    with caplog.at_level(logging.ERROR, logger="lobbywatch.periodic"):
        timer.start()
        assert recovered.wait(10)
        timer.stop(5)
    assert timer.failures == 2
    failed = [r for r in caplog.records if r.name == "lobbywatch.periodic"]
    assert [r.getMessage() for r in failed] == ["periodic-test-failing: a step failed"] * 2
    assert all(r.exc_info is not None for r in failed)


def test_a_stopped_thread_starts_again() -> None:
    ticks = threading.Semaphore(0)
    timer = PeriodicThread("periodic-test-again", 0.01, ticks.release)
    timer.start()
    assert ticks.acquire(timeout=10)
    timer.stop(5)
    timer.start()
    assert not timer.stopping
    while ticks.acquire(blocking=False):  # what ran before the stop
        pass
    assert ticks.acquire(timeout=10)
    timer.stop(5)
    assert not alive("periodic-test-again")
