"""Running a simulated hall against a real MQTT broker at accelerated time.

Each camera publishes through its own :class:`edge.vision.publisher.VisionPublisher` (the
vision daemon's: birth, last-will repeating the birth's sequence number, re-publish after
a reconnect); counter terminals and kiosks share one more connection. Time comes from
:func:`~lobbywatch.clock.simulation_clock` (``speed=60`` runs an hour in a minute, or the
shared timeline under the demo and the load test).
"""

from __future__ import annotations

import logging
import random
import signal
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from paho.mqtt.client import MQTTMessageInfo

from edge.simulate.hall import HallSimulator
from edge.simulate.scenario import Scenario
from edge.simulate.truth import TruthReport
from edge.vision.publisher import VisionPublisher
from lobbywatch.clock import Clock, simulation_clock
from lobbywatch.config.site import BrokerConfig, SiteConfig
from lobbywatch.mqtt import connect_and_wait, make_client, publish
from lobbywatch.protocol.messages import CameraStatus, Envelope

log = logging.getLogger(__name__)


def default_start(site: SiteConfig, now: datetime | None = None) -> datetime:
    """Today's opening time in the hall's timezone (or the next day the hall opens)."""
    tz = ZoneInfo(site.timezone)
    local = (now or datetime.now(UTC)).astimezone(tz)
    for days in range(8):
        day = (local + timedelta(days=days)).date()
        opens = [p.open for p in site.opening_hours if day.weekday() in [d.number for d in p.days]]
        if opens:
            return datetime.combine(day, min(opens), tzinfo=tz).astimezone(UTC)
    raise ValueError("the hall has no opening hours")  # unreachable: the config needs one


def run_hall(
    site: SiteConfig,
    broker: BrokerConfig,
    scenario: Scenario,
    *,
    speed: float = 60.0,
    start: datetime | None = None,
    seed: int | None = None,
    duration_min: float | None = None,
    tick_s: float = 1.0,
    devices: bool | None = None,
    tickets: bool = False,
    password: str | None = None,
    truth_report: Path | None = None,
    stop: threading.Event | None = None,
) -> TruthReport:
    """Run until ``stop`` is set or ``duration_min`` simulated minutes pass; return the report."""
    stop = stop or threading.Event()
    previous_term = None
    if threading.current_thread() is threading.main_thread():
        previous_term = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    # Under the demo or the load test every process shares one accelerated timeline.
    clock: Clock = simulation_clock(start or default_start(site), speed)
    # A new epoch per run (real time, not simulated): a restarted simulator restarts its
    # sequences, and downstream must not take them for duplicates of the last run's.
    sim = HallSimulator(
        site,
        clock,
        random.Random(seed),
        scenario,
        tick_s=tick_s,
        devices=devices,
        tickets=tickets,
        camera_births=False,
        epoch=int(time.time()),
    )
    initial = sim.start()
    cameras: dict[str, VisionPublisher] = {}
    for cam_id, stamper in sim.stampers.items():
        pub = VisionPublisher(
            broker, stamper, client_id=f"lw-simhall-{site.site}-{cam_id}"[:64], password=password
        )
        pub.start([m for m in initial if m.source == cam_id])
        cameras[cam_id] = pub
    dev_client = make_client(f"lw-simhall-{site.site}-devices"[:64], broker, password=password)
    dev_client.max_queued_messages_set(100_000)
    connect_and_wait(dev_client, broker)
    failed = 0
    last: list[MQTTMessageInfo] = []

    def send(messages: list[Envelope]) -> None:
        nonlocal failed
        for m in messages:
            pub = cameras.get(m.source)
            if pub is not None:
                if not isinstance(m, CameraStatus) or m.state == "online":
                    pub.send([m])
                continue
            try:
                last[:] = [publish(dev_client, m)]
            except (ValueError, RuntimeError, OSError) as exc:  # never die on one message
                failed += 1
                log.warning("could not publish %s: %s", m.type, exc)

    send([m for m in initial if m.source not in cameras])
    limit_s = None if duration_min is None else duration_min * 60
    try:
        while not stop.is_set() and (limit_s is None or sim.simulated_s < limit_s):
            send(sim.step())
            stop.wait(0.02)
    except KeyboardInterrupt:
        pass
    finally:
        for pub in cameras.values():
            pub.stop("simulation stopped")
        for info in last:
            try:
                info.wait_for_publish(5.0)
            except (ValueError, RuntimeError) as exc:
                log.warning("last device message not confirmed: %s", exc)
        dev_client.disconnect()
        dev_client.loop_stop()
        if previous_term is not None:
            signal.signal(signal.SIGTERM, previous_term)
    report = sim.report()
    if truth_report is not None:
        truth_report.parent.mkdir(parents=True, exist_ok=True)
        truth_report.write_text(report.model_dump_json(indent=2), encoding="utf-8")
    if failed:
        log.warning("%d messages could not be published", failed)
    return report
