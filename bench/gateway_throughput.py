"""Gateway benchmark: throughput broker -> server, and messages lost to a SIGKILL.

Run from the repository root::

    .venv/bin/python -m bench.gateway_throughput [--messages 30000] [--loss-messages 10000] [--rounds 3]

1. Throughput, with durable writes (SQLite WAL, synchronous=FULL, group commit): a real
   Mosquitto, the gateway as its own process (``python -m gateway run``), and the test ingest
   server of ``tests/gateway/ingest_receiver.py``.

   * live: ``mosquitto_pub -l`` (QoS 1, one process per topic) streams ``--messages`` while
     the gateway forwards; the figure is messages stored by the server divided by the time
     from the first publish to the last store;
   * catch-up: the same number of messages wait in the broker for the gateway's persistent
     session; the figure is messages divided by the time from the first store to the last.

   Both also give the gateway process's CPU time per message (from /proc), which does not
   depend on how busy the machine is.

2. Loss on SIGKILL, side by side, ``--loss-messages`` each:

   * mid-stream (``--rounds`` times each): a Mosquitto bridge (``connection`` to a third
     broker, ``persistence true`` with the default autosave interval) is SIGKILLed once a third
     of the stream has crossed it, then restarted (the publisher resends what the bridge never
     acknowledged); likewise the gateway, once a third of the stream reached the server;
   * during a WAN outage: the far end is down (central broker stopped / ingest server refusing
     connections) while the whole stream is published and acknowledged by the first hop; the
     forwarder is SIGKILLed, restarted, and the far end comes back.

   Lost = messages published that never reached the far end, after everything settled.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import paho.mqtt.client as mqtt  # noqa: E402
from paho.mqtt.enums import CallbackAPIVersion  # noqa: E402

from bench.proc import cpu_seconds  # noqa: E402
from lobbywatch.protocol.topics import uplink_filter  # noqa: E402
from lobbywatch.services import Mosquitto, free_port, wait_until  # noqa: E402
from tests.gateway.helpers_gateway import write_hall_config  # noqa: E402
from tests.gateway.helpers_ingest import IngestReceiver  # noqa: E402
from tests.gateway.helpers_streams import (  # noqa: E402
    Outgoing,
    Publisher,
    device_stream,
    publish_with_mosquitto_pub,
    wait_published,
)


class BridgeMosquitto(Mosquitto):
    """A Mosquitto bridging ``lobbywatch/#`` to another broker, with default persistence."""

    name = "mosquitto-bridge"

    def __init__(self, workdir: Path, remote: Mosquitto) -> None:
        super().__init__(
            workdir,
            extra_config=[
                "connection to-central",
                f"address {remote.host}:{remote.port}",
                "topic lobbywatch/# out 1",
                "cleansession false",
                "restart_timeout 1",
            ],
        )

    def prepare(self) -> None:
        super().prepare()
        # Default persistence: on, but saved only at the default autosave interval and on exit.
        lines = [
            x for x in self.config_path.read_text().splitlines() if not x.startswith("autosave_interval")
        ]
        self.config_path.write_text("\n".join(lines) + "\n")


class Counter:
    """A persistent-session QoS 1 subscriber counting distinct (source, seq)."""

    def __init__(self, broker: Mosquitto, site: str) -> None:
        self.keys: set[tuple[str, int]] = set()
        self.lock = threading.Lock()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"count-{uuid.uuid4().hex[:8]}", clean_session=False
        )
        done = threading.Event()
        self.client.reconnect_delay_set(min_delay=1, max_delay=2)
        self.client.on_connect = lambda c, *_: c.subscribe(uplink_filter(site), qos=1)
        self.client.on_subscribe = lambda *_: done.set()
        self.client.on_message = self._on_message
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()
        if not done.wait(10):
            raise ConnectionError("counter could not subscribe")

    def _on_message(self, _c: mqtt.Client, _u: object, m: mqtt.MQTTMessage) -> None:
        data = json.loads(m.payload)
        with self.lock:
            self.keys.add((data["source"], int(data["seq"])))

    def count(self) -> int:
        with self.lock:
            return len(self.keys)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def _healthz(port: int) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
        data: dict[str, Any] = json.loads(r.read())
        return data


class GatewayProcess:
    def __init__(self, work: Path, site: str, broker: Mosquitto, receiver: IngestReceiver) -> None:
        self.health_port = free_port()
        self.config = write_hall_config(
            work / "hall.yaml",
            site,
            broker,
            receiver,
            outbox=work / "outbox.sqlite3",
            health_port=self.health_port,
        )
        self.log = work / "gateway.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "gateway", "run", "--config", str(self.config)],
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        if not wait_until(lambda: _healthz(self.health_port)["mqtt_subscribed"] is True, 30):
            raise RuntimeError(f"gateway did not start:\n{self.log.read_text()[-2000:]}")

    def cpu_seconds(self) -> float:
        """User + system CPU time the gateway process has used (Linux /proc)."""
        assert self.proc is not None
        return cpu_seconds(self.proc.pid)

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)
        self.proc.wait(30)


def _settle(count: Any, timeout: float = 60, quiet_s: float = 3.0) -> int:
    """Wait until ``count()`` stops growing for ``quiet_s`` seconds; return it."""
    deadline = time.monotonic() + timeout
    last, since = count(), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.2)
        now = count()
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet_s:
            break
    return int(last)


def throughput(work: Path, n: int, *, catch_up: bool) -> dict[str, Any]:
    """Messages per second broker -> server (see the module docstring)."""
    site = f"bench{uuid.uuid4().hex[:6]}"
    sent = device_stream(site, n)
    with Mosquitto(work / "broker") as broker, IngestReceiver(validate=False, keep_backlogs=False) as rx:
        gw = GatewayProcess(work, site, broker, rx)
        gw.start()
        publish_s: float | None = None
        if catch_up:
            gw.signal(signal.SIGTERM)  # its persistent session keeps collecting messages
            publish_with_mosquitto_pub(broker.host, broker.port, sent)
            gw.start()
            cpu0 = gw.cpu_seconds()
        else:
            cpu0 = gw.cpu_seconds()
            t0 = time.monotonic()
            publish_with_mosquitto_pub(broker.host, broker.port, sent)
            publish_s = time.monotonic() - t0
        ok = wait_until(lambda: rx.stored_count() >= n, 300, interval=0.01)
        stored = rx.stored_count()
        first, last = rx.state.first_stored_at, rx.state.last_stored_at
        assert first is not None
        assert last is not None
        start = first if catch_up else t0
        cpu = gw.cpu_seconds() - cpu0
        gw.signal(signal.SIGTERM)
    elapsed = last - start
    return {
        "mode": "catch-up" if catch_up else "live",
        "messages": n,
        "stored": stored,
        "complete": ok,
        "seconds": round(elapsed, 2),
        "publish_seconds": None if publish_s is None else round(publish_s, 2),
        "msgs_per_s": round(stored / elapsed),
        "gateway_cpu_us_per_msg": round(cpu / stored * 1e6),
        "load_average_1m": round(os.getloadavg()[0], 1),
    }


def _kill_when(count: Any, threshold: int, kill: Any) -> int:
    if not wait_until(lambda: count() >= threshold, 120, interval=0.005):
        raise RuntimeError("the stream did not reach the kill point")
    kill()
    return int(count())


def bridge_loss(work: Path, n: int, *, outage: bool) -> dict[str, Any]:
    """SIGKILL a Mosquitto bridge mid-stream (or during a WAN outage), restart it, count."""
    site = f"bench{uuid.uuid4().hex[:6]}"
    sent = device_stream(site, n)
    with Mosquitto(work / "central") as central:
        counter = Counter(central, site)
        bridge = BridgeMosquitto(work / "bridge", central).start()
        try:
            pub = Publisher(bridge.host, bridge.port)
            # The bridge must be connected before the stream starts: one message crosses it.
            wait_published(pub.publish(sent[:1]))
            if not wait_until(lambda: counter.count() >= 1, 30):
                raise RuntimeError(f"the bridge did not connect:\n{bridge.log_tail()}")
            if outage:
                central.stop()  # the WAN is down: the bridge queues what the hall publishes
                wait_published(pub.publish(sent[1:]), timeout=120)
                at_kill = 1
                bridge.kill()
                bridge.start()
                central.start()
            else:
                infos = pub.publish(sent[1:])
                at_kill = _kill_when(counter.count, n // 3, bridge.kill)
                bridge.start()
                pub.wait_connected(30)
                wait_published(infos, timeout=120)
            received = _settle(counter.count, quiet_s=8.0)
            pub.close()
        finally:
            bridge.close()
            counter.close()
    return _loss("mosquitto bridge", outage, sent, received, at_kill)


def gateway_loss(work: Path, n: int, *, outage: bool) -> dict[str, Any]:
    """SIGKILL the gateway mid-stream (or during a server outage), restart it, count."""
    site = f"bench{uuid.uuid4().hex[:6]}"
    sent = device_stream(site, n)
    with Mosquitto(work / "hall") as broker, IngestReceiver(validate=False, keep_backlogs=False) as rx:
        gw = GatewayProcess(work, site, broker, rx)
        gw.start()
        pub = Publisher(broker.host, broker.port)
        if outage:
            rx.set_mode("refuse")  # the WAN is down: the gateway keeps what the hall publishes
            wait_published(pub.publish(sent), timeout=120)
            wait_until(lambda: _healthz(gw.health_port)["received"] >= n, 60)
            at_kill = 0
            gw.signal(signal.SIGKILL)
            gw.start()
            rx.set_mode("ok")
        else:
            infos = pub.publish(sent)
            at_kill = _kill_when(rx.stored_count, n // 3, lambda: gw.signal(signal.SIGKILL))
            gw.start()
            wait_published(infos, timeout=120)
        received = _settle(rx.stored_count)
        duplicates = rx.state.duplicates
        pub.close()
        gw.signal(signal.SIGTERM)
    out = _loss("lobbywatch gateway", outage, sent, received, at_kill)
    out["resent_duplicates_dropped_by_server"] = duplicates
    return out


def rounds(work: Path, n_rounds: int, run: Callable[..., dict[str, Any]], n: int) -> dict[str, Any]:
    """``run`` (a mid-stream kill) ``n_rounds`` times; the loss of each round and in all."""
    results = []
    for r in range(n_rounds):
        (work / str(r)).mkdir()
        results.append(run(work / str(r), n, outage=False))
    return {
        "forwarder": results[0]["forwarder"],
        "killed": "mid-stream (a third of the stream through)",
        "published": sum(x["published"] for x in results),
        "lost_per_round": [x["lost"] for x in results],
        "lost": sum(x["lost"] for x in results),
    }


def _loss(name: str, outage: bool, sent: list[Outgoing], received: int, at_kill: int) -> dict[str, Any]:
    return {
        "forwarder": name,
        "killed": "during a WAN outage" if outage else "mid-stream",
        "published": len(sent),
        "delivered_at_kill": at_kill,
        "delivered": received,
        "lost": len(sent) - received,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=30_000, help="Messages per throughput run.")
    parser.add_argument("--loss-messages", type=int, default=10_000, help="Messages per SIGKILL run.")
    parser.add_argument("--rounds", type=int, default=3, help="Mid-stream kills per forwarder.")
    parser.add_argument("--json", action="store_true", help="Print one JSON document.")
    args = parser.parse_args()
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="lw-gw-bench-") as tmp:
        base = Path(tmp)
        runs: list[tuple[str, Callable[[Path], dict[str, Any]]]] = [
            ("throughput_live", lambda w: throughput(w, args.messages, catch_up=False)),
            ("throughput_catch_up", lambda w: throughput(w, args.messages, catch_up=True)),
            ("loss_bridge_mid_stream", lambda w: rounds(w, args.rounds, bridge_loss, args.loss_messages)),
            ("loss_gateway_mid_stream", lambda w: rounds(w, args.rounds, gateway_loss, args.loss_messages)),
            ("loss_bridge_outage", lambda w: bridge_loss(w, args.loss_messages, outage=True)),
            ("loss_gateway_outage", lambda w: gateway_loss(w, args.loss_messages, outage=True)),
        ]
        for i, (key, fn) in enumerate(runs):
            work = base / f"{i}-{key}"
            work.mkdir()
            results[key] = fn(work)
            if not args.json:
                print(f"{key}: {json.dumps(results[key], ensure_ascii=False)}", flush=True)
    if args.json:
        print(json.dumps(results, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
