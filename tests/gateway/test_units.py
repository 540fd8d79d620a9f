"""The gateway's parts on their own: outbox, classification, backoff, settings, CLI."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gateway.classify import Ignored, classify
from gateway.forwarder import order_batch
from gateway.health import render_metrics
from gateway.outbox import GatewayOutbox, NewMessage, Quarantined
from gateway.service import GatewaySettings, GatewaySetupError
from lobbywatch.backoff import Backoff
from lobbywatch.config import load_site_config
from lobbywatch.protocol.topics import alert_downlink_topic, device_downlink_topic, open_alert_topic
from tests.gateway.helpers_streams import device_stream
from tests.helpers_metrics import samples, value

SITE = "h1"


def _new(i: int, delivery: str = "sample", size: int = 100, source: str = "k1") -> NewMessage:
    return NewMessage(f"{i:032x}", source, delivery, float(i), "x" * size)  # type: ignore[arg-type]


def test_outbox_survives_reopen_and_drops_repeated_ids(tmp_path: Path) -> None:
    box = GatewayOutbox(tmp_path / "o.sqlite3", 10_000_000)
    assert box.store([_new(1), _new(2, "event")]).stored == 2
    result = box.store([_new(2, "event"), _new(3)])
    assert (result.stored, result.duplicates) == (1, 1)
    box.close()
    again = GatewayOutbox(tmp_path / "o.sqlite3", 10_000_000)
    state = again.backlog()
    assert (state.count, state.bytes, state.oldest_received_at) == (3, 300, 1.0)
    assert [m.msg_id for m in again.take(10, 1_000_000)] == [f"{i:032x}" for i in (1, 2, 3)]


def test_outbox_cap_sheds_oldest_samples_never_events_nor_in_flight(tmp_path: Path) -> None:
    box = GatewayOutbox(tmp_path / "o.sqlite3", max_bytes=1000)
    box.store([_new(i, "event" if i % 2 else "sample") for i in range(8)])  # 800 bytes
    in_flight = box.take(2, 1_000_000)  # seq 1 (sample, id 0) and 2 (event, id 1)
    result = box.store([_new(i, "event") for i in range(8, 12)])  # +400: 200 over the cap
    assert result.shed == 2
    ids = {m.msg_id for m in box.take(100, 1_000_000)}
    assert f"{0:032x}" in ids, "an in-flight sample was shed"
    assert {f"{2:032x}", f"{4:032x}"}.isdisjoint(ids), "the oldest samples not in flight go first"
    assert all(f"{i:032x}" in ids for i in (1, 3, 5, 7, 8, 9, 10, 11)), "an event was shed"
    box.release()  # that take() was a look, not a send: settle() keeps what it leaves in flight
    # Sent; then far over the cap: the last sample goes, the events all stay, over the cap.
    box.settle(in_flight, [])
    box.store([_new(i, "event") for i in range(12, 30)])
    state = box.backlog()
    assert state.shed == 3
    assert state.count == 25
    assert state.bytes == 2500
    assert {m.delivery for m in box.take(100, 1_000_000)} == {"event"}


def test_outbox_settle_deletes_done_and_quarantines_rejected(tmp_path: Path) -> None:
    box = GatewayOutbox(tmp_path / "o.sqlite3", 10_000_000)
    box.store([_new(1), _new(2), _new(3)])
    batch = box.take(3, 1_000_000)
    box.settle([batch[0], batch[2]], [(batch[1], "seq: bad")])
    assert box.backlog().count == 0
    assert box.backlog().quarantined == 1
    assert box.quarantine_rows() == [("server", None, "server_rejected", "seq: bad")]


def test_order_batch_puts_events_first_keeping_each_order(tmp_path: Path) -> None:
    box = GatewayOutbox(tmp_path / "o.sqlite3", 10_000_000)
    box.store([_new(i, "event" if i in (2, 5) else "sample") for i in range(7)])
    ordered = [int(m.msg_id, 16) for m in order_batch(box.take(10, 1_000_000))]
    assert ordered == [2, 5, 0, 1, 3, 4, 6]


def test_classify() -> None:
    from datetime import datetime

    from tests.gateway.helpers_streams import TS

    received = datetime.fromisoformat(TS).timestamp()  # when the gateway got them
    ok = device_stream(SITE, 5, sources=1)
    verdict = classify(SITE, ok[4].topic, ok[4].payload, received)
    assert isinstance(verdict, NewMessage)
    assert (verdict.delivery, verdict.source) == ("event", "kiosk-0")
    assert isinstance(classify(SITE, ok[0].topic, ok[0].payload, received), NewMessage)
    assert isinstance(classify(SITE, alert_downlink_topic(SITE), b"{}", received), Ignored)
    assert isinstance(classify(SITE, open_alert_topic(SITE, "alert-0001"), b"{}", received), Ignored)
    assert isinstance(classify(SITE, device_downlink_topic(SITE, "k1"), b"{}", received), Ignored)
    assert isinstance(classify(SITE, ok[0].topic, b"", received), Ignored)
    other = classify("h2", ok[0].topic.replace(f"/{SITE}/", "/h2/"), ok[0].payload, received)
    assert isinstance(other, Quarantined)
    assert other.reason == "topic"  # the message names h1 but arrived under h2
    utf16 = json.loads(ok[0].payload)
    bad = classify(SITE, ok[0].topic, json.dumps(utf16).encode("utf-16"), received)
    assert isinstance(bad, Quarantined)
    assert bad.reason == "not_utf8"


def test_backoff_doubles_with_jitter_and_resets() -> None:
    b = Backoff(0.5, 4.0, random.Random(7))
    delays = [b.next_delay() for _ in range(6)]
    ceilings = [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    assert all(c / 2 <= d <= c for d, c in zip(delays, ceilings, strict=True))
    assert len(set(delays)) == len(delays), "no jitter"
    same_seed = Backoff(0.5, 4.0, random.Random(7))
    assert [same_seed.next_delay() for _ in range(6)] == delays, "the injected RNG decides"
    b.reset()
    assert b.next_delay() <= 0.5


def _hall(tmp_path: Path, gateway: str) -> Path:
    path = tmp_path / "hall.yaml"
    path.write_text(
        "site: h1\nname: {en: Hall, zh-CN: 营业厅}\n"
        'opening_hours: [{days: [mon], open: "09:00", close: "17:00"}]\n'
        "zones: [{id: q, kind: queue}]\n" + gateway
    )
    return path


def test_settings_from_config_and_token_errors(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("s3cret\n")
    cfg = load_site_config(
        _hall(tmp_path, f"gateway: {{id: gw2, token_file: {token}, max_disk_mb: 2, retry_max_s: 9}}\n")
    )
    s = GatewaySettings.from_config(cfg, server_url="https://central.example:8443")
    assert (s.token, s.max_disk_bytes, s.retry_max_s) == ("s3cret", 2 * 1024 * 1024, 9)
    assert s.client_id == "lobbywatch-gw-h1-gw2"
    assert s.server_url == "https://central.example:8443"
    assert s.wall_port == 0
    assert s.wall_layout is not None
    assert json.loads(s.wall_layout)["site"] == "h1"  # the wall page's layout, from the hall file
    bare = load_site_config(_hall(tmp_path, ""))
    with pytest.raises(GatewaySetupError, match="No gateway token"):
        GatewaySettings.from_config(bare)
    with pytest.raises(GatewaySetupError, match="Cannot read the gateway token file"):
        GatewaySettings.from_config(bare, token_file=tmp_path / "missing")


def test_cli_reports_a_missing_token_clearly(tmp_path: Path) -> None:
    from system.cli import app

    result = CliRunner().invoke(app, ["gateway", "run", "--config", str(_hall(tmp_path, ""))])
    assert result.exit_code == 2
    assert "No gateway token" in result.output
    assert "网关令牌" in result.output


def test_unusable_outbox_or_port_is_a_clear_setup_error(tmp_path: Path) -> None:
    import socket

    from gateway.service import Gateway
    from lobbywatch.config.site import BrokerConfig

    base = GatewaySettings(
        site="h1",
        gateway_id="gw",
        broker=BrokerConfig(),
        server_url="http://127.0.0.1:9",
        token="t",
        outbox=tmp_path / "outbox.sqlite3",
        max_disk_bytes=1_000_000,
    )
    (tmp_path / "a-dir.sqlite3").mkdir()
    with pytest.raises(GatewaySetupError, match="Cannot open the outbox"):
        Gateway(base.with_(outbox=tmp_path / "a-dir.sqlite3"))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(GatewaySetupError, match=r"Health port \d+ is not usable"):
            Gateway(base.with_(health_port=taken.getsockname()[1]))
        with pytest.raises(GatewaySetupError, match=r"Wall page port \d+ is not usable"):
            Gateway(base.with_(health_port=0, wall_port=taken.getsockname()[1], wall_host="127.0.0.1"))


def test_outbox_settle_keeps_the_rest_of_the_batch_in_flight(tmp_path: Path) -> None:
    """While a batch is split, the pieces not yet sent must not be shed under them."""
    box = GatewayOutbox(tmp_path / "o.sqlite3", max_bytes=1000)
    box.store([_new(i) for i in range(6)])  # 600 bytes of samples
    batch = box.take(6, 1_000_000)
    box.settle(batch[:2], [(batch[2], "HTTP 400: unreadable")])  # the first pieces
    result = box.store([_new(i, "event") for i in range(6, 14)])  # 300 + 800: over the cap
    assert result.shed == 0, "a sample of the batch still being sent was shed"
    box.settle(batch[3:], [])
    state = box.backlog()
    assert (state.count, state.bytes) == (8, 800)
    assert (state.quarantined, state.quarantined_by_reason) == (1, {"server_rejected": 1})


def test_metrics_count_quarantined_messages_per_reason() -> None:
    snapshot = {
        "site": SITE,
        "gateway": "gw1",
        "backlog": {"count": 0, "bytes": 0, "oldest_age_s": 0.0, "shed": 0, "quarantined": 5},
        "forwarded_per_s": 0.0,
        "forwarded": 10,
        "received": 15,
        "batches": 2,
        "retries": 0,
        "quarantined_by_reason": {"not_json": 2, "server_rejected": 3},
        "mqtt_connected": True,
    }
    found = samples(render_metrics(snapshot))
    labels = {"site": SITE, "gateway": "gw1"}
    assert value(found, "lobbywatch_gateway_quarantined_total", **labels) == 5
    assert value(found, "lobbywatch_gateway_quarantined_reason_total", **labels, reason="not_json") == 2
    assert (
        value(found, "lobbywatch_gateway_quarantined_reason_total", **labels, reason="server_rejected") == 3
    )
