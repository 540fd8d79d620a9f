"""The gateway end to end in the test process: real Mosquitto, the test ingest server."""

from __future__ import annotations

import json
import os
import subprocess
import urllib.request
from pathlib import Path

from lobbywatch.protocol.topics import alert_downlink_topic, device_event_topic, site_root
from lobbywatch.services import Mosquitto, wait_until
from tests.gateway.helpers_gateway import gateway_settings, running
from tests.gateway.helpers_ingest import IngestReceiver
from tests.gateway.helpers_streams import (
    Publisher,
    assert_exactly_once_in_order,
    device_stream,
    wait_published,
)
from tests.helpers_metrics import samples, value


def _get(port: int, path: str) -> bytes:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
        body: bytes = r.read()
        return body


def test_stream_arrives_once_in_order_with_health(
    tmp_path: Path, mosquitto: Mosquitto, receiver: IngestReceiver, site_id: str
) -> None:
    settings = gateway_settings(tmp_path, site_id, mosquitto, receiver)
    sent = device_stream(site_id, 2000)
    with running(settings) as gw:
        pub = Publisher(mosquitto.host, mosquitto.port)
        wait_published(pub.publish(sent))
        assert wait_until(lambda: receiver.stored_count() == len(sent), 30), receiver.stored_count()
        assert wait_until(lambda: gw.outbox.count == 0, 10)
        health = json.loads(_get(settings.health_port, "/healthz"))
        metrics = _get(settings.health_port, "/metrics").decode()
        pub.close()
    assert_exactly_once_in_order(receiver.stored(), sent)
    assert health["backlog"]["count"] == 0
    assert health["forwarded"] == len(sent)
    assert health["mqtt_connected"] is True
    assert health["status"] == "ok"
    labels = {"site": site_id, "gateway": "gw1"}
    assert value(samples(metrics), "lobbywatch_gateway_forwarded_total", **labels) == len(sent)
    assert "# TYPE lobbywatch_gateway_backlog_messages gauge" in metrics
    # Every batch told the server the backlog, this batch included.
    assert receiver.state.backlogs
    assert all(b.count >= 1 for b in receiver.state.backlogs)


def test_events_lead_each_batch(
    tmp_path: Path, mosquitto: Mosquitto, receiver: IngestReceiver, site_id: str
) -> None:
    receiver.set_mode("refuse")
    settings = gateway_settings(tmp_path, site_id, mosquitto, receiver, batch_max=100)
    sent = device_stream(site_id, 300, event_every=3)
    with running(settings) as gw:
        pub = Publisher(mosquitto.host, mosquitto.port)
        wait_published(pub.publish(sent))
        assert wait_until(lambda: gw.outbox.count == len(sent), 20)
        receiver.set_mode("ok")
        assert wait_until(lambda: receiver.stored_count() == len(sent), 20)
        pub.close()
    stored = receiver.stored()
    start = 0
    assert sum(receiver.state.batch_sizes) == len(sent)
    for size in receiver.state.batch_sizes:
        kinds = [m["type"] == "device_event" for m in stored[start : start + size]]
        assert kinds == sorted(kinds, reverse=True), "a sample was sent ahead of an event"
        start += size
    assert max(receiver.state.batch_sizes) == 100
    assert_exactly_once_in_order(stored, sent)


def test_server_refusing_then_500_then_hanging_then_back(
    tmp_path: Path, mosquitto: Mosquitto, receiver: IngestReceiver, site_id: str
) -> None:
    settings = gateway_settings(tmp_path, site_id, mosquitto, receiver, request_timeout_s=0.5)
    first, second = device_stream(site_id, 3000), []
    with running(settings) as gw:
        pub = Publisher(mosquitto.host, mosquitto.port)
        wait_published(pub.publish(first[:500]))
        assert wait_until(lambda: receiver.stored_count() == 500, 20)
        for mode in ("refuse", "error", "hang"):
            receiver.set_mode(mode)  # type: ignore[arg-type]
            retries = gw.stats.retries
            if mode == "refuse":
                wait_published(pub.publish(first[500:]))
            assert wait_until(lambda r=retries: gw.stats.retries >= r + 2, 20), mode  # type: ignore[misc]
        assert wait_until(lambda: gw.outbox.count == len(first) - 500, 20)
        during = json.loads(_get(settings.health_port, "/healthz"))
        backlog_seen = during["backlog"]
        assert during["status"] == "degraded"
        assert during["last_send_error"]
        receiver.set_mode("ok")
        second = device_stream(site_id, 400, start_seq=750)
        wait_published(pub.publish(second))
        assert wait_until(lambda: receiver.stored_count() == len(first) + len(second), 30)
        assert wait_until(lambda: gw.outbox.count == 0, 10)
        pub.close()
    assert backlog_seen["count"] == 2500
    assert backlog_seen["oldest_age_s"] > 0
    assert gw.stats.retries >= 6
    assert receiver.state.failed_requests >= 4  # 500s and hung requests reached it
    assert_exactly_once_in_order(receiver.stored(), first + second)
    # The server learnt the backlog: the first batch after the outage reported it.
    assert max(b.count for b in receiver.state.backlogs) >= 2500


def test_batches_shrink_when_the_server_is_too_slow_for_big_ones(
    tmp_path: Path, mosquitto: Mosquitto, receiver: IngestReceiver, site_id: str
) -> None:
    """A starved server times out on big batches: the gateway halves them and makes progress."""
    receiver.set_mode("refuse")
    receiver.hang_above = 60
    receiver.hang_s = 2.0
    settings = gateway_settings(tmp_path, site_id, mosquitto, receiver, batch_max=400, request_timeout_s=0.3)
    sent = device_stream(site_id, 900)
    with running(settings) as gw:
        pub = Publisher(mosquitto.host, mosquitto.port)
        wait_published(pub.publish(sent))
        assert wait_until(lambda: gw.outbox.count == len(sent), 20)
        receiver.set_mode("ok")
        assert wait_until(lambda: receiver.stored_count() == len(sent), 40), receiver.stored_count()
        pub.close()
    assert receiver.state.failed_requests >= 3  # 400, 200 and 100 timed out first
    assert max(receiver.state.batch_sizes) <= 60
    assert_exactly_once_in_order(receiver.stored(), sent)


def test_broker_restart_mid_stream_loses_nothing(
    tmp_path: Path, fresh_mosquitto: Mosquitto, receiver: IngestReceiver, site_id: str
) -> None:
    settings = gateway_settings(tmp_path, site_id, fresh_mosquitto, receiver)
    sent = device_stream(site_id, 6000)
    with running(settings) as gw:
        pub = Publisher(fresh_mosquitto.host, fresh_mosquitto.port)
        wait_published(pub.publish(sent[:3000]))
        fresh_mosquitto.restart()
        assert pub.wait_connected(20)
        assert wait_until(lambda: gw.stats.mqtt_subscribed, 20)
        wait_published(pub.publish(sent[3000:]))
        assert wait_until(lambda: receiver.stored_count() == len(sent), 40), receiver.stored_count()
        pub.close()
    assert gw.stats.mqtt_connects >= 2
    assert_exactly_once_in_order(receiver.stored(), sent)


def test_disk_cap_sheds_only_samples_and_counts_them(
    tmp_path: Path, mosquitto: Mosquitto, receiver: IngestReceiver, site_id: str
) -> None:
    receiver.set_mode("refuse")
    # 600 events of ~260 bytes (never shed) and one batch in flight fit under the cap; the
    # 2400 samples do not.
    settings = gateway_settings(tmp_path, site_id, mosquitto, receiver, max_disk_bytes=200_000, batch_max=100)
    sent = device_stream(site_id, 3000)
    with running(settings) as gw:
        pub = Publisher(mosquitto.host, mosquitto.port)
        wait_published(pub.publish(sent))
        assert wait_until(lambda: gw.stats.received == len(sent), 20)
        assert gw.outbox.backlog().bytes <= 200_000
        receiver.set_mode("ok")
        assert wait_until(lambda: gw.outbox.count == 0, 20)
        shed = gw.outbox.backlog().shed
        pub.close()
    stored = {(m["source"], int(m["seq"])) for m in receiver.stored()}
    events = {(o.source, o.seq) for o in sent if o.delivery == "event"}
    samples = {(o.source, o.seq) for o in sent if o.delivery == "sample"}
    assert events <= stored, "an event was shed"
    assert shed > 0
    assert shed == len(samples - stored)
    assert len(stored) == len(sent) - shed


def test_invalid_messages_quarantined_and_stream_unaffected(
    tmp_path: Path, mosquitto: Mosquitto, receiver: IngestReceiver, site_id: str
) -> None:
    settings = gateway_settings(tmp_path, site_id, mosquitto, receiver)
    sent = device_stream(site_id, 400)
    bad_topic = device_event_topic(site_id, "kiosk-9")
    good_heartbeat = json.loads(sent[0].payload)
    wrong_schema = json.dumps({**good_heartbeat, "uptime_s": "long", "colour": "red"}).encode()
    with running(settings) as gw:
        pub = Publisher(mosquitto.host, mosquitto.port)
        infos = pub.publish(sent[:100])
        infos.append(pub.publish_raw(bad_topic, os.urandom(200)))
        infos += pub.publish(sent[100:200])
        infos.append(pub.publish_raw(bad_topic, wrong_schema))
        infos.append(pub.publish_raw(bad_topic, b"{" + b" " * 20_000 + b"}"))
        infos += pub.publish(sent[200:300])
        infos.append(pub.publish_raw(f"{site_root(site_id)}/elsewhere/thing", b'{"v": 1}'))
        infos.append(pub.publish_raw(alert_downlink_topic(site_id), b'{"v": 1}'))  # ignored
        infos.append(pub.publish_raw(f"{site_root(site_id)}/device/k1/status", b"", retain=True))
        infos += pub.publish(sent[300:])
        wait_published(infos)
        assert wait_until(lambda: receiver.stored_count() == len(sent), 20)
        assert wait_until(lambda: gw.stats.received == len(sent) + 6, 10)
        health = json.loads(_get(settings.health_port, "/healthz"))
        rows = gw.outbox.quarantine_rows()
        pub.close()
    assert_exactly_once_in_order(receiver.stored(), sent)
    assert health["backlog"]["quarantined"] == 4
    assert health["ignored"] == 2
    reasons = [r[2] for r in rows]
    assert reasons == ["not_json", "schema", "oversized", "unknown_topic"]
    assert "uptime_s" in rows[1][3]
    assert "colour" in rows[1][3]


def test_messages_the_server_rejects_are_quarantined_not_resent(
    tmp_path: Path, mosquitto: Mosquitto, receiver: IngestReceiver, site_id: str
) -> None:
    settings = gateway_settings(tmp_path, site_id, mosquitto, receiver)
    sent = device_stream(site_id, 200)
    receiver.reject_ids = {sent[10].msg_id, sent[150].msg_id}
    with running(settings) as gw:
        pub = Publisher(mosquitto.host, mosquitto.port)
        wait_published(pub.publish(sent))
        assert wait_until(lambda: gw.stats.received == len(sent) and gw.outbox.count == 0, 20)
        rows = gw.outbox.quarantine_rows()
        backlog = gw.backlog()
        pub.close()
    assert receiver.state.rejected == 2, "a rejected message was sent again"
    assert receiver.stored_count() == len(sent) - 2
    assert [(r[0], r[2], r[3]) for r in rows] == [
        ("server", "server_rejected", "rejected by the test receiver")
    ] * 2
    assert backlog["quarantined"] == 2


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


def test_https_with_the_configured_ca_and_refusal_of_an_untrusted_server(
    tmp_path: Path, mosquitto: Mosquitto, site_id: str
) -> None:
    cert, key = _self_signed(tmp_path)
    sent = device_stream(site_id, 100)
    with IngestReceiver(tls=(cert, key)) as rx:
        untrusted = gateway_settings(tmp_path, site_id, mosquitto, rx)
        with running(untrusted) as gw:
            pub = Publisher(mosquitto.host, mosquitto.port)
            wait_published(pub.publish(sent))
            assert wait_until(lambda: gw.stats.retries >= 2, 20)
            assert "CERTIFICATE_VERIFY_FAILED" in (gw.stats.last_send_error or "")
            assert rx.stored_count() == 0
        trusted = untrusted.with_(server_ca_file=cert)
        with running(trusted):
            assert wait_until(lambda: rx.stored_count() == len(sent), 20)
            pub.close()
    assert_exactly_once_in_order(rx.stored(), sent)
