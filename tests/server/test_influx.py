"""InfluxDB through the v1 API against the real influxd: read back by InfluxQL; outages."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from lobbywatch.protocol.enums import (
    CounterStatus,
    DeviceEventKind,
    Severity,
    WaitKind,
    WaitOutcome,
    ZoneKind,
)
from lobbywatch.protocol.messages import (
    CameraStatus,
    CounterState,
    DeviceEvent,
    DeviceHeartbeat,
    DeviceStatus,
    Envelope,
    WaitRecord,
    ZoneState,
)
from lobbywatch.services import Influxd
from server.core.config import InfluxConfig

from .conftest import Server


def rows(influxd: Influxd, db: str, q: str) -> list[dict[str, Any]]:
    res: Any = influxd.query(q, db=db)
    series = res["results"][0].get("series", [])
    out: list[dict[str, Any]] = []
    for s in series:
        for values in s["values"]:
            out.append(dict(zip(s["columns"], values, strict=True)))
    return out


def influx_cfg(influxd: Influxd, db: str) -> InfluxConfig:
    return InfluxConfig(url=influxd.url, database=db, max_retry_s=0.5, flush_interval_s=0.05)


def entrance_states(server: Server, n: int, entered_total: int = 0) -> list[Envelope | dict[str, Any]]:
    """``n`` entrance zone states, one simulated second apart."""
    out: list[Envelope | dict[str, Any]] = []
    for _ in range(n):
        server.clock.advance(1)
        out.append(
            server.make(
                ZoneState,
                "cam-entrance",
                zone="entrance",
                kind=ZoneKind.ENTRANCE,
                occupancy=1,
                count=1,
                entered_total=entered_total,
                exited_total=0,
            )
        )
    return out


def test_points_read_back_by_influxql(
    make_server: Callable[..., Server], influxd: Influxd, influx_db: str
) -> None:
    server = make_server(influx=influx_cfg(influxd, influx_db))
    clock = server.clock
    msgs: list[Any] = [
        server.make(
            ZoneState,
            "cam-counters",
            zone="queue-main",
            kind=ZoneKind.QUEUE,
            occupancy=4.5,
            count=5,
            queue_length=4,
            expected_wait_s=300,
            entered_total=12,
            exited_total=8,
        ),
        server.make(CameraStatus, "cam-counters", state="online", fps=7.5, frames_read=100),
        server.make(DeviceStatus, "kiosk-topup-1", state="online"),
        server.make(DeviceHeartbeat, "kiosk-topup-1", uptime_s=60, interval_s=30, vitals={"cpu_pct": 12.5}),
        server.make(CounterState, "term-c1", counter="c1", state=CounterStatus.SERVING),
    ]
    clock.advance(5)
    msgs.append(
        server.make(
            DeviceEvent,
            "kiosk-topup-1",
            event=DeviceEventKind.FAULT_RAISED,
            code="PRN_PAPER_OUT",
            severity=Severity.WARNING,
            unusable=True,
        )
    )
    start = clock.now() - timedelta(seconds=720)
    msgs.append(
        server.make(
            WaitRecord,
            "cam-counters",
            zone="queue-main",
            kind=WaitKind.WAIT,
            zone_kind=ZoneKind.QUEUE,
            started=start,
            ended=clock.now(),
            duration_s=720,
            outcome=WaitOutcome.EXITED,
        )
    )
    assert server.send(msgs).json()["accepted"] == len(msgs)
    assert server.send(msgs).json()["duplicates"] == len(msgs)
    assert server.ctx.writer.flush(30), server.ctx.writer.stats
    site = server.site
    [z] = rows(influxd, influx_db, f"SELECT * FROM zone WHERE site = '{site}'")
    assert (z["camera"], z["zone"], z["kind"], z["occupancy"], z["queue_length"]) == (
        "cam-counters",
        "queue-main",
        "queue",
        4.5,
        4,
    )
    assert z["expected_wait_s"] == 300
    assert z["entered_total"] == 12
    [w] = rows(influxd, influx_db, f"SELECT * FROM wait WHERE site = '{site}'")
    assert (w["duration_s"], w["within_limit"], w["kind"], w["outcome"]) == (720, 0, "wait", "exited")
    states = rows(
        influxd,
        influx_db,
        f"SELECT state, state_code, faults, vendor FROM device_status WHERE site = '{site}'",
    )
    assert [(s["state"], s["state_code"], s["faults"]) for s in states] == [
        ("working", 0, 0),
        ("faulted", 1, 1),
    ]
    assert states[0]["vendor"] == "huaxin-maint"
    [ev] = rows(influxd, influx_db, f"SELECT * FROM device_event WHERE site = '{site}'")
    assert (ev["code"], ev["event"], ev["severity"], ev["unusable"], ev["n"]) == (
        "PRN_PAPER_OUT",
        "fault_raised",
        "warning",
        1,
        1,
    )
    [hb] = rows(influxd, influx_db, f"SELECT * FROM device_heartbeat WHERE site = '{site}'")
    assert hb["cpu_pct"] == 12.5
    assert hb["uptime_s"] == 60
    [c] = rows(influxd, influx_db, f"SELECT * FROM counter WHERE site = '{site}'")
    assert (c["counter"], c["state"], c["state_code"]) == ("c1", "serving", 0)
    [cam] = rows(influxd, influx_db, f"SELECT * FROM camera WHERE site = '{site}'")
    assert (cam["online"], cam["fps"], cam["frames_read"]) == (1, 7.5, 100)
    gw = rows(influxd, influx_db, f"SELECT * FROM gateway WHERE site = '{site}'")
    assert len(gw) == 1
    assert gw[0]["gateway"] == "gw-1"
    site_pts = rows(influxd, influx_db, f"SELECT * FROM site WHERE site = '{site}'")
    assert site_pts[-1]["kiosks_total"] == 3
    assert site_pts[-1]["counters_serving"] == 1


def test_influxd_down_mid_ingest_loses_nothing(
    make_server: Callable[..., Server], fresh_influxd: Influxd
) -> None:
    db = "lobbywatch"
    server = make_server(influx=influx_cfg(fresh_influxd, db))
    accepted = 0

    def batch(n: int) -> None:
        nonlocal accepted
        r = server.send(entrance_states(server, n, entered_total=accepted))
        assert r.status_code == 200
        accepted += r.json()["accepted"]

    batch(50)
    assert server.ctx.writer.flush(30)
    fresh_influxd.kill()
    for _ in range(4):
        batch(50)
    assert server.ctx.writer.stats.pending_lines > 0
    assert server.ctx.writer.stats.failures > 0 or server.ctx.writer.stats.pending_lines >= 200
    fresh_influxd.start()
    batch(50)
    assert server.ctx.writer.flush(60), server.ctx.writer.stats
    [n] = rows(fresh_influxd, db, f"SELECT count(occupancy) FROM zone WHERE site = '{server.site}'")
    assert n["count"] == accepted == 300


def test_spool_survives_a_server_restart_while_influxd_is_down(
    make_server: Callable[..., Server], fresh_influxd: Influxd, tmp_path: Path
) -> None:
    sql = f"sqlite:///{tmp_path / 'restart.sqlite3'}"
    cfg = influx_cfg(fresh_influxd, "lobbywatch")
    fresh_influxd.kill()
    first = make_server(sql_url=sql, influx=cfg)
    msgs = entrance_states(first, 20)
    assert first.send(msgs).json()["accepted"] == 20
    first.stop()  # the server stops with the lines still spooled
    fresh_influxd.start()
    second = make_server(sql_url=sql, influx=cfg)
    assert second.send(msgs).json()["duplicates"] == 20  # idempotency survives the restart too
    assert second.ctx.writer.flush(60), second.ctx.writer.stats
    [n] = rows(fresh_influxd, "lobbywatch", f"SELECT count(occupancy) FROM zone WHERE site = '{first.site}'")
    assert n["count"] == 20
