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


def test_info_lines_are_never_summarised(
    captured: tuple[logging.Logger, io.StringIO, RepeatSummary, Ticks],
) -> None:
    log, out, _summary, _ticks = captured
    for _ in range(3):
        log.info("heartbeat")
    assert len(lines(out)) == 3
