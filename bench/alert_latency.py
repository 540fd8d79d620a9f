"""Alert latency: a message published at the hall broker -> the webhook request received.

Run from the repository root::

    .venv/bin/python -m bench.alert_latency [--seconds 20] [--nominal-rate 20] [--limit-rate 1000]

The whole path is real: a Mosquitto hall broker, the gateway as its own process
(``python -m gateway run``, durable outbox), the server (``server.app.create_app`` under
uvicorn, SQLite) with the alert engine its context starts, and a
local HTTP receiver standing for the webhook endpoint.

In each phase a publisher streams background ``zone_state`` samples at the given rate and,
twice a second, a ``device_event`` fault with a fresh fault code, routed to the webhook.
Latency = time the webhook request arrived - time the fault was handed to the MQTT client
(one process, one monotonic clock). Phases: nominal hall load, and a high rate standing
for the server's ingest limit.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import yaml  # noqa: E402

from lobbywatch.clock import SystemClock  # noqa: E402
from lobbywatch.config.site import BrokerConfig  # noqa: E402
from lobbywatch.mqtt import connect_and_wait, make_client, publish  # noqa: E402
from lobbywatch.protocol.enums import ZoneKind  # noqa: E402
from lobbywatch.protocol.messages import DeviceEvent, ZoneState  # noqa: E402
from lobbywatch.protocol.sequence import Stamper  # noqa: E402
from lobbywatch.services import Mosquitto, wait_until  # noqa: E402
from tests.helpers_asgi import ThreadedAsgiServer  # noqa: E402
from tests.server.alerts.helpers_hall import hall_dict  # noqa: E402
from tests.server.alerts.helpers_receivers import HttpReceiver, start_http  # noqa: E402

SITE = "bench-alerts"


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[k]


def _start_server(tmp: Path, hall_file: Path) -> tuple[Any, str, Any]:
    from server.app import create_app
    from server.core.config import InfluxConfig, ServerSettings
    from server.core.security import create_token

    settings = ServerSettings(
        sql_url=f"sqlite:///{tmp / 'server.sqlite3'}", influx=InfluxConfig(enabled=False), halls=[hall_file]
    )
    app = create_app(settings, SystemClock())
    server = ThreadedAsgiServer(app, "bench-server").start()
    ctx = app.state.ctx
    with ctx.db.session() as session:
        _row, token = create_token(
            session, name="bench-gw", role="gateway", sites=[SITE], created_at=SystemClock().now()
        )
    return server, server.url, token


def _phase(
    broker: BrokerConfig, http: HttpReceiver, seconds: float, rate: float, label: str, first_code: int
) -> dict[str, Any]:
    clock = SystemClock()
    client = make_client(f"bench-pub-{label}", broker)
    connect_and_wait(client, broker)
    cam = Stamper(SITE, "cam-1", clock=clock, epoch=first_code)
    kiosk = Stamper(SITE, "k1", clock=clock, epoch=first_code)
    sent: dict[str, float] = {}
    published = 0
    entered = 0
    start = time.monotonic()
    next_fault = start + 0.25
    code = first_code
    interval = 1.0 / rate
    next_bg = start
    while time.monotonic() - start < seconds:
        now = time.monotonic()
        if now >= next_fault:
            name = f"BENCH_{code:06d}"
            msg = kiosk.make(DeviceEvent, event="fault_raised", code=name, unusable=True)
            sent[name] = time.monotonic()
            publish(client, msg)
            code += 1
            next_fault += 0.5
        if now >= next_bg:
            entered += 1
            zone = cam.make(
                ZoneState,
                zone="entrance",
                kind=ZoneKind.ENTRANCE,
                occupancy=1.0,
                count=1,
                entered_total=entered,
                exited_total=entered,
            )
            publish(client, zone, qos=0)
            published += 1
            next_bg += interval
            if next_bg < now - 1.0:  # the publisher cannot keep up: do not build a burst
                next_bg = now
        else:
            time.sleep(min(next_bg, next_fault) - now if min(next_bg, next_fault) > now else 0)
    elapsed = time.monotonic() - start
    wait_until(lambda: len(_received(http, sent)) >= len(sent), 30)
    client.loop_stop()
    client.disconnect()
    got = _received(http, sent)
    lat = [(got[c] - t0) * 1000 for c, t0 in sent.items() if c in got]
    return {
        "phase": label,
        "offered_rate": round(published / elapsed, 1),
        "faults": len(sent),
        "delivered": len(lat),
        "p50_ms": round(_percentile(lat, 50), 1),
        "p99_ms": round(_percentile(lat, 99), 1),
        "max_ms": round(max(lat), 1) if lat else None,
        "mean_ms": round(statistics.fmean(lat), 1) if lat else None,
    }


def _received(http: HttpReceiver, sent: dict[str, float]) -> dict[str, float]:
    out: dict[str, float] = {}
    for req in http.on("/hook"):
        for alert in json.loads(req.body)["alerts"]:
            code = alert["params"].get("code")
            if code in sent and alert["event"] == "fired":
                out.setdefault(code, req.received)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="Length of each phase.")
    parser.add_argument("--nominal-rate", type=float, default=20.0, help="Background msg/s, nominal.")
    parser.add_argument("--limit-rate", type=float, default=1000.0, help="Background msg/s, high load.")
    args = parser.parse_args()
    http = start_http()
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        with Mosquitto(tmp / "mosquitto") as broker:
            cfg = hall_dict(
                SITE,
                broker={"host": broker.host, "port": broker.port},
                notifications={
                    "channels": [{"name": "hook", "type": "webhook", "url": f"{http.url}/hook"}],
                    "routes": [{"kinds": ["device_fault"], "channels": ["hook"]}],
                    "escalation": [],
                    "policy": {"flap_window_s": 0},
                },
            )
            cfg["gateway"] = {"id": "gw-bench", "health_port": 0}
            hall_file = tmp / "hall.yaml"
            hall_file.write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
            server, url, token = _start_server(tmp, hall_file)
            token_file = tmp / "token"
            token_file.write_text(token)
            gateway = subprocess.Popen(
                [
                    sys.executable, "-m", "gateway", "run",
                    "--config", str(hall_file),
                    "--broker", f"mqtt://{broker.host}:{broker.port}",
                    "--server", url,
                    "--token-file", str(token_file),
                    "--outbox", str(tmp / "outbox.sqlite3"),
                ],
                cwd=ROOT,
                stderr=subprocess.DEVNULL,
            )  # fmt: skip
            try:
                bcfg = BrokerConfig(host=broker.host, port=broker.port)
                time.sleep(2.0)  # let the gateway subscribe before the first measured message
                results = [
                    _phase(bcfg, http, args.seconds, args.nominal_rate, "nominal", 0),
                    _phase(bcfg, http, args.seconds, args.limit_rate, "high", 100_000),
                ]
            finally:
                gateway.terminate()
                gateway.wait(10)
                server.stop()  # the app's lifespan stops the alert engine too
    http.server.shutdown()
    for r in results:
        print(json.dumps(r))


if __name__ == "__main__":
    main()
