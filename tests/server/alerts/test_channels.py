"""Channels against local receivers that record the real requests; MQTT on real Mosquitto."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import shutil
import ssl
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from email import message_from_bytes
from email.policy import default as email_policy
from pathlib import Path
from typing import Any

import pytest

from lobbywatch.clock import FixedClock
from lobbywatch.config.site import SiteConfig
from lobbywatch.protocol.codec import decode_obj
from lobbywatch.protocol.messages import AlertNotice
from lobbywatch.protocol.topics import alert_downlink_topic, topic_for
from lobbywatch.services import Influxd, wait_until
from server.alerts.channels import default_senders, dingtalk_sign
from server.alerts.dispatch import Dispatcher
from server.alerts.engine import AlertEngine
from server.alerts.escaping import escape_lark_text, escape_markdown, escape_slack
from server.alerts.influx import alert_points
from server.alerts.model import AlertUpdate
from server.alerts.store import MemoryAlertStore
from server.downlink import DownlinkQueue
from server.storage.db import Database, run_migrations
from tests.helpers_tls import make_certs

from .helpers_hall import Hall, hall_dict
from .helpers_receivers import HttpReceiver, SmtpReceiver, start_http, start_smtp

SECRET = "SEC0123456789abcdef"


@pytest.fixture
def http() -> Iterator[HttpReceiver]:
    rec = start_http()
    yield rec
    rec.release.set()
    rec.server.shutdown()
    rec.server.server_close()


@pytest.fixture
def smtp() -> Iterator[SmtpReceiver]:
    rec, thread = start_smtp()
    yield rec
    assert rec.loop is not None
    rec.loop.call_soon_threadsafe(rec.loop.stop)
    thread.join(5)


def channel_hall(site: str, http: HttpReceiver, smtp: SmtpReceiver | None, **extra: Any) -> SiteConfig:
    base = http.url
    channels: list[dict[str, Any]] = [
        {"name": "hook", "type": "webhook", "url": f"{base}/hook", "secret": SECRET},
        {"name": "ding", "type": "dingtalk", "url": f"{base}/ding?access_token=tok", "secret": SECRET},
        {"name": "lark", "type": "feishu", "url": f"{base}/lark", "secret": SECRET},
        {"name": "wecom", "type": "wecom", "url": f"{base}/wecom?key=k", "language": "zh-CN"},
        {"name": "slack", "type": "slack", "url": f"{base}/slack", "language": "en"},
    ]
    if smtp is not None:
        channels.append(
            {
                "name": "mail",
                "type": "email",
                "host": smtp.host,
                "port": smtp.port,
                "starttls": False,
                "sender": "alerts@hall.example",
                "to": ["manager@hall.example"],
            }
        )
    cfg = hall_dict(
        site,
        notifications={
            "channels": channels,
            "routes": [{"channels": [c["name"] for c in channels]}],
            "escalation": [],
        },
        **extra,
    )
    return SiteConfig.model_validate(cfg)


def make(cfg: SiteConfig, clock: FixedClock, **dispatch: Any) -> tuple[Hall, Dispatcher, MemoryAlertStore]:
    store = MemoryAlertStore()
    dispatcher = Dispatcher(clock=clock, store=store, **dispatch)
    h = Hall(cfg, clock, store=store)
    h.engine = AlertEngine([cfg], clock=clock, store=store, notifier=dispatcher)
    h.engine.add_listener(h.updates.append)
    return h, dispatcher, store


def fault(h: Hall) -> str:
    h.device_event("k1", event="fault_raised", code="PRN_PAPER_OUT", unusable=True, detail="纸用完")
    return h.fired("device_fault")[0].alert.id


def test_dingtalk_sign_matches_published_vector() -> None:
    # the value a published DingTalk SDK test expects for timestamp 1700000000000, secret "secret"
    assert dingtalk_sign("secret", 1700000000000) == "OuzzJR5+xZ4/EYwqtNt6sMYZQMTa/HEGvc9miJe7XzY="


def test_every_channel_gets_a_signed_message(
    site_id: str, clock: FixedClock, http: HttpReceiver, smtp: SmtpReceiver
) -> None:
    h, dispatcher, store = make(channel_hall(site_id, http, smtp), clock)
    try:
        alert_id = fault(h)
        for path in ("/hook", "/ding", "/lark", "/wecom", "/slack"):
            http.wait_for(path)
        mails = smtp.wait_for(1)
        assert dispatcher.wait_idle(10)
    finally:
        dispatcher.close()

    # generic webhook: HMAC-SHA256 over "<timestamp>.<body>", verified here with the secret
    (hook,) = http.on("/hook")
    ts = hook.headers["x-lobbywatch-timestamp"]
    expected = hmac.new(SECRET.encode(), ts.encode() + b"." + hook.body, hashlib.sha256).hexdigest()
    assert hook.headers["x-lobbywatch-signature"] == f"sha256={expected}"
    assert abs(int(ts) - time.time()) < 60  # real time: the receiver checks it against its clock
    payload = hook.json()
    assert payload["site"] == site_id
    (a,) = payload["alerts"]
    assert (a["id"], a["kind"], a["device"], a["vendor"]) == (alert_id, "device_fault", "k1", "v-one")
    assert "out-of-service" in a["body"]["en"]
    assert "暂停服务" in a["body"]["zh-CN"]

    # DingTalk: timestamp (ms) and sign as query parameters, verified per its scheme
    (ding,) = http.on("/ding")
    assert ding.query["access_token"] == ["tok"]
    ms = ding.query["timestamp"][0]
    mac = hmac.new(SECRET.encode(), f"{ms}\n{SECRET}".encode(), hashlib.sha256).digest()
    assert ding.query["sign"][0] == base64.b64encode(mac).decode()  # parse_qs url-decodes
    assert abs(int(ms) / 1000 - time.time()) < 60
    assert ding.json()["msgtype"] == "markdown"
    assert "PRN_PAPER_OUT" in ding.json()["markdown"]["text"]

    # Feishu: timestamp (s) and sign in the body; key "<ts>\n<secret>", empty message
    (lark,) = http.on("/lark")
    body = lark.json()
    key = f"{body['timestamp']}\n{SECRET}".encode()
    assert body["sign"] == base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()
    assert body["msg_type"] == "text"

    # WeCom in Chinese only, Slack in English only
    wecom = http.on("/wecom")[0].json()
    assert wecom["msgtype"] == "markdown"
    assert "设备故障" in wecom["markdown"]["content"]
    assert "Device fault" not in wecom["markdown"]["content"]
    slack = http.on("/slack")[0].json()
    assert "Device fault: k1" in slack["text"]
    assert "设备故障" not in slack["text"]

    # e-mail over SMTP
    mail = message_from_bytes(mails[0].data, policy=email_policy)
    assert mails[0].recipients == ["manager@hall.example"]
    assert "k1" in str(mail["Subject"])
    text = mail.get_body().get_content()  # type: ignore[union-attr]
    assert "PRN_PAPER_OUT" in text
    assert "测试营业厅" in text

    log = store.deliveries(alert_id)
    assert {d.channel for d in log if d.ok} == {"hook", "ding", "lark", "wecom", "slack", "mail"}
    assert all(d.attempt == 1 for d in log)


#: What a misbehaving device (or a careless configuration) could put in a chat message.
HOSTILE = (
    "[click](https://evil.example/x) ![img](https://evil.example/i.png) <@U123> <!channel> "
    '@all <at user_id="all">所有人</at> **bold** _em_ `code`\n# heading\n> quote\n- item'
)


@pytest.mark.unit
def test_escapes_leave_no_chat_syntax() -> None:
    md = escape_markdown(HOSTILE)
    assert "\n" not in md
    for syntax in ("[", "](", "![", "<@", "<!", "@all", "<at", "**", "`", "https://", "# ", "> ", "_em_"):
        assert syntax not in md, syntax
    assert "evil.example" in md  # shown, not linked: the words stay readable
    assert escape_markdown("- item") == "－ item"
    assert escape_markdown("1. first") == "1． first"
    assert escape_markdown("kiosk_bill_1 (tray 2)") == "kiosk_bill_1 （tray 2）"
    lark = escape_lark_text(HOSTILE)
    assert "<at" not in lark
    assert "https://" not in lark
    slack = escape_slack(HOSTILE)
    for syntax in ("<@U123>", "<!channel>", "<at", "https://"):
        assert syntax not in slack, syntax
    assert "&lt;@U123&gt;" in slack
    assert escape_slack("a & b") == "a &amp; b"


def test_device_words_cannot_inject_links_or_mentions_into_chats(
    site_id: str, clock: FixedClock, http: HttpReceiver
) -> None:
    name = {"en": "Hall <!here> [x](https://evil.example)", "zh-CN": "营业厅 @all"}
    h, dispatcher, _store = make(channel_hall(site_id, http, None, name=name), clock)
    try:
        h.device_event("k1", event="fault_raised", code="PRN_PAPER_OUT", unusable=True, detail=HOSTILE)
        for path in ("/ding", "/lark", "/wecom", "/slack"):
            http.wait_for(path)
        assert dispatcher.wait_idle(10)
    finally:
        dispatcher.close()
    texts = {
        "ding": http.on("/ding")[0].json()["markdown"]["text"],
        "wecom": http.on("/wecom")[0].json()["markdown"]["content"],
        "lark": http.on("/lark")[0].json()["content"]["text"],
        "slack": http.on("/slack")[0].json()["text"],
    }
    for where, text in texts.items():
        assert "evil.example" in text, where  # the device's words arrive...
        for syntax in ("<@", "<!", "<at", "https://"):  # ...but no link or mention
            assert syntax not in text, (where, syntax)
        assert "PRN_PAPER_OUT" in text
    for where in ("ding", "wecom"):  # markdown: the channel's own structure only
        assert "](" not in texts[where]
        lines = texts[where].splitlines()
        assert [x for x in lines if x.startswith(("#", ">", "-"))] == [
            x for x in lines if x.startswith("### ")
        ]
        assert "@all" not in texts[where]
        assert texts[where].count("**") == 2 * len([x for x in lines if x.startswith("**")])
    assert http.on("/slack")[0].json()["mrkdwn"] is False


def mail_hall(site: str, smtp: SmtpReceiver, **channel: Any) -> SiteConfig:
    mail = {"name": "mail", "type": "email", "host": smtp.host, "port": smtp.port}
    mail |= {"sender": "alerts@hall.example", "to": ["manager@hall.example"], **channel}
    notifications = {"channels": [mail], "routes": [{"channels": ["mail"]}], "escalation": []}
    return SiteConfig.model_validate(hall_dict(site, notifications=notifications))


@pytest.mark.real
@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_smtp_starttls_verifies_the_servers_certificate(
    site_id: str, clock: FixedClock, tmp_path: Path
) -> None:
    certs = make_certs(tmp_path / "tls")
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(certs.cert, certs.key)
    smtp, thread = start_smtp(tls)
    try:
        # A certificate from a CA the channel does not trust: refused, no mail, a clear error.
        h, dispatcher, store = make(mail_hall(site_id, smtp), clock, attempts=1)
        try:
            alert_id = fault(h)
            assert dispatcher.wait_idle(10)
        finally:
            dispatcher.close()
        (refused,) = store.deliveries(alert_id)
        assert not refused.ok
        assert refused.error is not None
        assert "certificate is not trusted" in refused.error
        assert "ca_file" in refused.error
        assert smtp.mails == []
        with smtp.got:  # the handshake broke off: nothing was sent in clear
            assert smtp.got.wait_for(lambda: smtp.tls_failures, 5)
        # The channel trusts that CA: delivered over TLS.
        h, dispatcher, store = make(mail_hall(site_id, smtp, ca_file=str(certs.ca)), clock, attempts=1)
        try:
            alert_id = fault(h)
            (mail,) = smtp.wait_for(1)
            assert dispatcher.wait_idle(10)
        finally:
            dispatcher.close()
        assert [d.ok for d in store.deliveries(alert_id)] == [True]
        assert mail.over_tls
        text = message_from_bytes(mail.data, policy=email_policy).get_body().get_content()  # type: ignore[union-attr]
        assert "PRN_PAPER_OUT" in text
    finally:
        assert smtp.loop is not None
        smtp.loop.call_soon_threadsafe(smtp.loop.stop)
        thread.join(5)


def test_retries_with_backoff_and_logs_each_attempt(
    site_id: str, clock: FixedClock, http: HttpReceiver
) -> None:
    http.fail["/hook"] = 2
    http.answer["/ding"] = b'{"errcode": 310000, "errmsg": "sign not match"}'
    h, dispatcher, store = make(channel_hall(site_id, http, None), clock, backoff_s=0.2, attempts=3)
    try:
        alert_id = fault(h)
        http.wait_for("/hook", 3)
        http.wait_for("/ding", 3)
        assert dispatcher.wait_idle(10)
    finally:
        dispatcher.close()
    hook = [(d.attempt, d.ok) for d in store.deliveries(alert_id) if d.channel == "hook"]
    assert hook == [(1, False), (2, False), (3, True)]
    ding = [d for d in store.deliveries(alert_id) if d.channel == "ding"]
    assert [d.ok for d in ding] == [False, False, False]
    assert ding[0].error is not None
    assert "310000" in ding[0].error
    gaps = [b.received - a.received for a, b in zip(http.on("/hook"), http.on("/hook")[1:], strict=False)]
    assert gaps[0] >= 0.2  # backoff 0.2 s, then doubled
    assert gaps[1] >= 0.4


def test_a_down_channel_does_not_delay_the_others(
    site_id: str, clock: FixedClock, http: HttpReceiver
) -> None:
    http.hang.add("/ding")  # accepts the connection and never answers
    h, dispatcher, store = make(channel_hall(site_id, http, None), clock, timeout_s=5.0, attempts=1)
    try:
        start = time.monotonic()
        alert_id = fault(h)
        submitted = time.monotonic() - start
        http.wait_for("/ding")
        for path in ("/hook", "/lark", "/wecom", "/slack"):
            req = http.wait_for(path)[0]
            assert req.received - start < 1.0, f"{path} waited behind the hung channel"
        assert submitted < 0.5  # the engine only queues

        def delivered() -> set[str]:
            return {d.channel for d in store.deliveries(alert_id) if d.ok}

        assert wait_until(lambda: delivered() >= {"hook", "lark", "wecom", "slack"}, 5)
        assert "ding" not in delivered()
    finally:
        http.release.set()
        dispatcher.close()


def test_hall_displays_channel_queues_for_the_gateway(
    site_id: str, clock: FixedClock, tmp_path: Path
) -> None:
    """The ``mqtt`` channel (in-hall displays) goes into the hall's downlink queue, which the
    gateway fetches; the server itself never connects to the hall broker."""
    db = Database(f"sqlite:///{tmp_path / 'server.sqlite3'}")
    run_migrations(db)
    queue = DownlinkQueue(db, clock)
    cfg = SiteConfig.model_validate(
        hall_dict(
            site_id,
            broker={"host": "192.0.2.1", "port": 1},  # unreachable: nothing may try it
            notifications={
                "channels": [{"name": "displays", "type": "mqtt"}],
                "routes": [{"channels": ["displays"]}],
                "escalation": [],
            },
        )
    )
    h, dispatcher, store = make(cfg, clock, senders=default_senders(clock, queue))
    try:
        alert_id = fault(h)
        h.device_event("k1", event="fault_cleared", code="PRN_PAPER_OUT")
        assert dispatcher.wait_idle(10)
        assert [d.ok for d in store.deliveries(alert_id)] == [True, True]
    finally:
        dispatcher.close()
        db.dispose()
    batch = queue.after(site_id, 0)
    assert [i.seq for i in batch.items] == [1, 2]
    notices = [decode_obj(i.message) for i in batch.items]
    first, second = notices
    assert isinstance(first, AlertNotice)
    assert isinstance(second, AlertNotice)
    assert (first.alert_id, first.kind, first.state, first.device) == (
        alert_id,
        "device_fault",
        "firing",
        "k1",
    )
    assert "PRN_PAPER_OUT" in first.body.en
    assert topic_for(first) == alert_downlink_topic(site_id)
    assert not first.RETAINED
    assert (second.alert_id, second.state, second.seq) == (alert_id, "resolved", first.seq + 1)


def test_alert_points_land_in_influxdb(
    site_id: str, clock: FixedClock, influxd: Influxd, influx_db: str
) -> None:
    seen: list[AlertUpdate] = []
    h = Hall(SiteConfig.model_validate(hall_dict(site_id)), clock)
    h.engine.add_listener(seen.append)
    fault(h)
    h.device_event("k1", event="fault_cleared", code="PRN_PAPER_OUT")
    lines = "\n".join(p.to_line_protocol() for u in seen for p in alert_points(u)).encode()
    url = f"{influxd.url}/write?" + urllib.parse.urlencode({"db": influx_db, "precision": "ns"})
    with urllib.request.urlopen(urllib.request.Request(url, data=lines, method="POST"), timeout=10) as r:
        assert r.status == 204
    result: Any = influxd.query(
        f'SELECT "alert_id", "title_en", "title_zh", "state" FROM "alert" WHERE "site" = \'{site_id}\'',
        db=influx_db,
    )
    rows = result["results"][0]["series"][0]["values"]
    assert [r[4] for r in rows] == ["firing", "resolved"]
    assert rows[0][2] == "Device fault: k1"
    assert rows[1][3].startswith("[已恢复]")
    assert json.dumps(rows)


def test_updates_of_one_hall_are_grouped_per_channel(
    site_id: str, clock: FixedClock, http: HttpReceiver
) -> None:
    h, dispatcher, _store = make(channel_hall(site_id, http, None), clock)
    try:
        h.device_status("k1", state="online", faults=["PRN_PAPER_OUT", "CARD_JAM"])
        (req,) = http.wait_for("/hook")
        assert dispatcher.wait_idle(10)
    finally:
        dispatcher.close()
    alerts = req.json()["alerts"]
    assert sorted(a["subject"] for a in alerts) == ["device:k1:CARD_JAM", "device:k1:PRN_PAPER_OUT"]
    assert len(http.on("/hook")) == 1
