"""Device agent and simulator figures: ``python -m bench.device_agent [--faults N]``.

1. Live: the agent raises and clears ``N`` faults while connected; messages per second from
   the first report until the broker has acknowledged everything.
2. Backlog: the same reports queued during a broker outage, then the drain rate after the
   broker is back.
3. Simulator: simulated device-days per real second for the example telecom hall.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

from edge.devices.agent import DeviceAgent
from edge.devices.simulator import DeviceFleetSimulator, SimSettings
from lobbywatch.clock import FixedClock
from lobbywatch.config.site import BrokerConfig, load_site_config
from lobbywatch.protocol.messages import Envelope
from lobbywatch.services import Mosquitto, wait_until

EXAMPLE = Path(__file__).resolve().parents[1] / "deploy" / "examples" / "telecom-hall.yaml"


def _report(agent: DeviceAgent, n: int) -> None:
    for _ in range(n):
        agent.raise_fault("PRN_PAPER_LOW")
        agent.clear_fault("PRN_PAPER_LOW")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--faults", type=int, default=500, help="raise+clear cycles per phase")
    args = parser.parse_args()
    site = load_site_config(EXAMPLE)
    with tempfile.TemporaryDirectory() as tmp, Mosquitto(Path(tmp) / "broker") as broker:
        cfg = BrokerConfig(host=broker.host, port=broker.port, keepalive_s=5)
        agent = DeviceAgent(site, "kiosk-topup-1", state_dir=Path(tmp) / "state", broker=cfg).start()
        assert wait_until(lambda: agent.connected and agent.outbox.backlog() == 0, 10)
        per_cycle = 4  # raise event, status, clear event, status
        t0 = time.perf_counter()
        _report(agent, args.faults)
        assert agent.wait_drained(120)
        live = time.perf_counter() - t0
        sent = args.faults * per_cycle
        print(f"live:    {sent} messages in {live:.2f}s = {sent / live:.0f} msg/s")
        broker.stop()
        assert wait_until(lambda: not agent.connected, 10)
        t0 = time.perf_counter()
        _report(agent, args.faults)
        queued = time.perf_counter() - t0
        backlog = agent.outbox.backlog()
        rate = backlog / queued
        print(f"queue:   {backlog} messages written to the outbox in {queued:.2f}s = {rate:.0f} msg/s")
        broker.start()
        t0 = time.perf_counter()
        assert wait_until(lambda: agent.connected, 30)
        t1 = time.perf_counter()
        assert agent.wait_drained(120)
        drain = time.perf_counter() - t1
        print(
            f"drain:   reconnected {t1 - t0:.2f}s after the broker was back; {backlog} messages "
            f"delivered in {drain:.2f}s = {backlog / drain:.0f} msg/s"
        )
        agent.stop()

    clock = FixedClock.at("2026-11-23T00:00:00Z")
    count = 0

    def sink(_m: Envelope) -> None:
        nonlocal count
        count += 1

    sim = DeviceFleetSimulator(site, clock, random.Random(1), sink, settings=SimSettings())
    t0 = time.perf_counter()
    days = 7
    for _ in range(days * 24 * 60):
        clock.advance(60)
        sim.step()
    took = time.perf_counter() - t0
    device_days = days * len(site.devices)
    print(
        f"sim:     {device_days} device-days, {count} messages in {took:.2f}s = "
        f"{device_days / took:.1f} device-days/s, {count / took:.0f} msg/s"
    )


if __name__ == "__main__":
    main()
