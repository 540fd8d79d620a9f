"""The device fleet simulator, driven by a fixed clock, and its command on a real broker."""

from __future__ import annotations

import itertools
import random
from pathlib import Path

from typer.testing import CliRunner

from edge.devices.checker import ConformanceChecker
from edge.devices.simulator import DeviceFleetSimulator, SimSettings
from lobbywatch.clock import FixedClock
from lobbywatch.protocol.codec import decode, encode
from lobbywatch.protocol.messages import CounterState, DeviceEvent, DeviceStatus, Envelope
from lobbywatch.protocol.topics import topic_for
from lobbywatch.services import Mosquitto
from system.cli import app
from tests.edge.devices.helpers_devices import hall, recorder, write_hall


def test_a_simulated_week(site_id: str, clock: FixedClock) -> None:
    base = hall(site_id)
    # slow heartbeats keep a simulated week cheap; failures are what this test is about
    cfg = base.model_copy(
        update={"devices": [d.model_copy(update={"heartbeat_s": 900}) for d in base.devices]}
    )
    out: list[Envelope] = []
    settings = SimSettings(mtbf_scale=0.2, network_loss_per_day=2, vendor_response={"huaxin-maint": 20})
    sim = DeviceFleetSimulator(cfg, clock, random.Random(7), out.append, settings=settings)
    checker = ConformanceChecker(site_id)
    checker.start(clock.monotonic())
    fed = 0
    for _ in range(7 * 24 * 30):  # one week, two minutes at a time
        clock.advance(120)
        sim.step()
        for m in out[fed:]:
            # every message is valid protocol v1 on its own topic
            checker.feed(topic_for(m), encode(m), retained=fed == 0, now=clock.monotonic())
            decode(encode(m), topic=topic_for(m))
        fed = len(out)
    events = [m for m in out if isinstance(m, DeviceEvent)]
    raised = [e for e in events if e.event == "fault_raised"]
    cleared = [e for e in events if e.event == "fault_cleared"]
    assert len(raised) >= 10
    assert len(cleared) >= len(raised) - len(cfg.devices) * 3
    assert any(e.event == "out_of_service_on" and e.by == "fault" for e in events)
    wills = [m for m in out if isinstance(m, DeviceStatus) and m.will]
    assert wills
    assert all(w.state == "offline" for w in wills)
    counters = {m.state for m in out if isinstance(m, CounterState)}
    assert counters == {"serving", "standby", "learning", "away"}
    # a flap: a code raised again shortly after being cleared
    by_dev: dict[tuple[str, str], list[tuple[str, float]]] = {}
    for e in events:
        if e.code:
            by_dev.setdefault((e.source, e.code), []).append((e.event, e.ts.timestamp()))
    assert any(
        a[0] == "fault_cleared" and b[0] == "fault_raised" and b[1] - a[1] <= 120
        for seq in by_dev.values()
        for a, b in itertools.pairwise(seq)
    )
    # sequence continuity per device (wills exempt) and no schema problems
    for rep in checker.finish(clock.monotonic()):
        assert not [p for p in rep.problems if p.startswith(("sequence", "schema"))], rep.problems


def test_simulate_devices_command(site_id: str, mosquitto: Mosquitto, tmp_path: Path) -> None:
    config = write_hall(tmp_path, site_id, mosquitto.port)
    rec = recorder(mosquitto.port, f"lobbywatch/v1/{site_id}/device/#")
    result = CliRunner().invoke(
        app,
        ["simulate", "devices", "--config", str(config), "--speed", "600", "--seed", "3", "--duration", "1"],
    )
    assert result.exit_code == 0, result.output
    assert rec.wait_for(lambda _: len({m.source for m in rec.of_type("device_status")}) == 7)
    assert rec.of_type("device_heartbeat")
    rec.close()
