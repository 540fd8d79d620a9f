"""Logs a machine can read: JSON lines with the fields that matter, and a flood of one kind of
warning summarised instead of written line by line."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from lobbywatch.logs import JsonFormatter, RepeatSummary


class Ticks:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def captured() -> Iterator[tuple[logging.Logger, io.StringIO, RepeatSummary, Ticks]]:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter("gateway"))
    ticks = Ticks()
    summary = RepeatSummary(interval_s=60, now=ticks)
    handler.addFilter(summary)
    log = logging.getLogger("lobbywatch.test.logs")
    log.addHandler(handler)
    log.propagate = False
    log.setLevel(logging.INFO)
    yield log, out, summary, ticks
    log.removeHandler(handler)


def lines(out: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_json_lines_carry_component_level_and_extra_fields(
    captured: tuple[logging.Logger, io.StringIO, RepeatSummary, Ticks],
) -> None:
    log, out, _summary, _ticks = captured
    log.info("batch forwarded", extra={"site": "hall-1", "messages": 12})
    try:
        raise ValueError("bad payload")
    except ValueError:
        log.exception("could not judge a message", extra={"source": "kiosk-1"})
    first, second = lines(out)
    assert (first["level"], first["component"], first["site"], first["messages"]) == (
        "info",
        "gateway",
        "hall-1",
        12,
    )
    assert str(first["ts"]).endswith("+00:00")
    assert second["level"] == "error"
    assert second["source"] == "kiosk-1"
    assert "ValueError: bad payload" in str(second["error"])


def test_a_flood_of_one_warning_writes_a_few_lines_with_counts(
    captured: tuple[logging.Logger, io.StringIO, RepeatSummary, Ticks],
) -> None:
    log, out, summary, ticks = captured
    for i in range(5000):  # five thousand bad payloads over two and a half minutes
        ticks.t += 0.03
        log.warning("quarantined a message on %s: %s", f"topic/{i}", "schema")
    log.warning("another kind of trouble")
    summary.flush(log)
    written = lines(out)
    assert len(written) <= 5
    assert written[0]["message"] == "quarantined a message on topic/0: schema"
    counted = [w for w in written if w.get("repeated")]
    assert counted, "the held-back warnings are counted"
    held_back = sum(int(str(w["repeated"])) for w in counted)
    final = next(w for w in written if "were held back" in str(w["message"]))
    flushed = int(str(final["message"]).split()[0])
    assert 1 + len(counted) + held_back + flushed == 5000
    assert any(w["message"] == "another kind of trouble" for w in written)


def test_each_reason_is_its_own_kind_and_every_held_kind_is_flushed(
    captured: tuple[logging.Logger, io.StringIO, RepeatSummary, Ticks],
) -> None:
    log, out, summary, ticks = captured
    for i in range(30):
        ticks.t += 0.5
        log.warning("quarantined %s", i, extra={"reason": "schema" if i % 3 else "not_json"})
        log.warning("outbox full")
    summary.flush(log)
    written = lines(out)
    assert [w["message"] for w in written[:3]] == ["quarantined 0", "outbox full", "quarantined 1"]
    flushed = {(w.get("reason"), w["held_back"]) for w in written[3:]}
    assert flushed == {("not_json", 9), ("schema", 19), (None, 29)}  # none of the counts lost


def test_info_lines_are_never_summarised(
    captured: tuple[logging.Logger, io.StringIO, RepeatSummary, Ticks],
) -> None:
    log, out, _summary, _ticks = captured
    for _ in range(3):
        log.info("heartbeat")
    assert len(lines(out)) == 3


@pytest.mark.real
def test_a_program_set_up_for_json_writes_json_lines() -> None:
    """What ``--log-format json`` gives a daemon: its stderr is one JSON object per line."""
    import subprocess
    import sys

    code = (
        "import logging; from lobbywatch.logs import setup_logging; "
        "summary = setup_logging('gateway', 'json'); log = logging.getLogger('gateway.intake'); "
        "[log.warning('quarantined %s', i, extra={'site': 'hall-1'}) for i in range(100)]; "
        "log.info('stopping'); summary.flush(log)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    written = [json.loads(line) for line in done.stderr.splitlines()]
    assert [w["message"] for w in written] == [
        "quarantined 0",
        "stopping",
        "99 more warnings like 'quarantined %s' from gateway.intake were held back",
    ]
    assert {w["component"] for w in written} == {"gateway"}
    assert written[0]["site"] == "hall-1"
