"""The InfluxDB writer's counters say what their names say, against the real influxd."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lobbywatch.services import Influxd, wait_until
from server.core.config import InfluxConfig

from .conftest import Server


def test_a_partial_write_counts_written_and_dropped_lines_apart(
    make_server: Callable[..., Server], influxd: Influxd, influx_db: str
) -> None:
    server = make_server(influx=InfluxConfig(url=influxd.url, database=influx_db, flush_interval_s=0.05))
    writer = server.ctx.writer
    writer.enqueue(["probe f=1i 1000"])
    assert writer.flush(10)
    before = (writer.stats.written_lines, writer.stats.dropped_lines)
    # The first line's field is a float where the series holds integers: InfluxDB refuses
    # that one point and writes the other two of the chunk (a partial write).
    writer.enqueue(["probe f=1.5 2000", "probe f=3i 3000", "other g=1 4000"])
    assert writer.flush(10)
    assert wait_until(lambda: writer.stats.pending_lines == 0, 10)
    written = writer.stats.written_lines - before[0]
    dropped = writer.stats.dropped_lines - before[1]
    assert (written, dropped) == (2, 1)
    res: Any = influxd.query('SELECT count("f") FROM "probe"', db=influx_db)
    assert res["results"][0]["series"][0]["values"][0][1] == 2  # 1000 and 3000
