"""Acknowledge from the chat: the signed link in the recorded chat and webhook requests and
e-mails works once, for the alert and channel (e-mail: address) it names, and is refused when
reused (even after a restart), altered or expired (docs/alerts.md, "Acknowledging from the
chat")."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from datetime import timedelta
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as email_policy
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from lobbywatch.clock import FixedClock
from lobbywatch.protocol.enums import AlertState
from lobbywatch.protocol.messages import DeviceEvent
from server.core.ack_links import AckLinks, LinkRefused
from server.core.config import AckLinkConfig

from .helpers_hall import hall_dict
from .helpers_receivers import HttpReceiver, SmtpReceiver, start_http, start_smtp
from .helpers_server import Served, served

BASE = "https://lobbywatch.example.com"
SECRET = "s3cret-for-the-tests-0123456789abcdef"
LINK = re.compile(re.escape(BASE) + r"/ack/[A-Za-z0-9_.-]+")
CHANNELS = {"floor-hook": "webhook", "floor-wecom": "wecom", "floor-ding": "dingtalk", "floor-lark": "feishu"}


@pytest.fixture
def receiver() -> Iterator[HttpReceiver]:
    http = start_http()
    try:
        yield http
    finally:
        http.server.shutdown()
        http.server.server_close()


@pytest.fixture
def smtp() -> Iterator[SmtpReceiver]:
    rec, thread = start_smtp()
    yield rec
    assert rec.loop is not None
    rec.loop.call_soon_threadsafe(rec.loop.stop)
    thread.join(5)


def chat_hall(site: str, url: str) -> dict[str, Any]:
    """A hall whose every alert goes to a webhook and the three chat robots at ``url``."""
    channels = [{"name": n, "type": t, "url": f"{url}/{n}"} for n, t in CHANNELS.items()]
    notifications = {"channels": channels, "routes": [{"channels": list(CHANNELS)}], "escalation": []}
    return hall_dict(site, notifications=notifications)


def links_on(http: HttpReceiver, name: str, n: int = 1) -> list[str]:
    """The acknowledge links in the ``n``-th request recorded for channel ``name``."""
    body = http.wait_for(f"/{name}", n)[n - 1].body.decode()
    return LINK.findall(body.replace("\\/", "/"))


def path_of(link: str) -> str:
    return urlsplit(link).path


def fault(s: Served, device: str = "k1") -> str:
    s.ingest([s.make(DeviceEvent, device, event="fault_raised", code="PRN_PAPER_OUT", unusable=True)])
    [alert] = [a for a in s.alerts.engine.open_alerts(s.site) if a.device == device]
    return alert.id


@pytest.mark.real
def test_the_link_in_each_chat_message_acknowledges_once_as_its_channel(
    tmp_path: Path, clock: FixedClock, site_id: str, receiver: HttpReceiver
) -> None:
    cfg = AckLinkConfig(public_base_url=BASE, secret=SECRET, ttl_s=3600)
    with served(tmp_path, clock, chat_hall(site_id, receiver.url), ack_links=cfg) as s:
        alert_id = fault(s)
        [hook] = receiver.wait_for("/floor-hook")
        [sent] = hook.json()["alerts"]
        assert sent["id"] == alert_id
        assert sent["ack_url"].startswith(BASE + "/ack/")
        wecom, ding, lark = (links_on(receiver, n) for n in ("floor-wecom", "floor-ding", "floor-lark"))
        # Both languages name the same link in each chat message.
        assert len(wecom) == len(ding) == len(lark) == 2
        assert wecom[0] == wecom[1]
        assert "[点此确认](" in receiver.on("/floor-wecom")[0].body.decode()
        assert "Acknowledge: " + lark[0] in json.loads(receiver.on("/floor-lark")[0].body)["content"]["text"]

        # A GET (what a chat app's link preview does) shows the page and changes nothing.
        page = s.client.get(path_of(wecom[0]), params={"lang": "zh-CN"})
        assert page.status_code == 200, page.text
        assert "设备故障：k1" in page.text
        assert "floor-wecom" in page.text
        assert 'method="post"' in page.text
        assert page.headers["content-security-policy"].startswith("default-src 'self'")
        assert s.alerts.engine.get(alert_id).state == AlertState.FIRING  # type: ignore[union-attr]
        assert "Acknowledge this alert as" in s.client.get(path_of(wecom[0]), params={"lang": "en"}).text

        done = s.client.post(path_of(wecom[0]))
        assert done.status_code == 200, done.text
        assert 'data-outcome="done"' in done.text
        assert "floor-wecom" in done.text
        acked = s.alerts.engine.get(alert_id)
        assert acked is not None
        assert (acked.state, acked.acked_by) == (AlertState.ACKNOWLEDGED, "floor-wecom")

        # Used: refused, by GET and POST alike.
        for method in ("GET", "POST"):
            again = s.client.request(method, path_of(wecom[0]))
            assert (again.status_code, 'data-outcome="used"' in again.text) == (410, True), method
        # The acknowledgement's own message asks for nothing: no link.
        assert links_on(receiver, "floor-wecom", 2) == []
        assert receiver.wait_for("/floor-hook", 2)[1].json()["alerts"][0]["ack_url"] is None

    # A restart keeps the use: the link stays spent.
    with served(tmp_path, clock, chat_hall(site_id, receiver.url), ack_links=cfg) as s2:
        again = s2.client.post(path_of(wecom[0]))
        assert (again.status_code, 'data-outcome="used"' in again.text) == (410, True)
        # Another channel's link is its own; it expires with the injected clock.
        assert s2.client.get(path_of(ding[0])).status_code == 200
        clock.advance(3600)
        for method in ("GET", "POST"):
            expired = s2.client.request(method, path_of(ding[0]))
            assert (expired.status_code, 'data-outcome="expired"' in expired.text) == (410, True)


@pytest.mark.real
def test_an_altered_link_is_refused(
    tmp_path: Path, clock: FixedClock, site_id: str, receiver: HttpReceiver
) -> None:
    cfg = AckLinkConfig(public_base_url=BASE, secret=SECRET)
    with served(tmp_path, clock, chat_hall(site_id, receiver.url), ack_links=cfg) as s:
        alert_id = fault(s)
        other_id = fault(s, "k2")
        [link] = set(links_on(receiver, "floor-lark"))
        token = path_of(link).removeprefix("/ack/")
        payload, signature = token.split(".")
        alert, who, expires = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        assert (alert, who) == (alert_id, "floor-lark")

        def forged(*claim: Any) -> str:
            raw = base64.urlsafe_b64encode(json.dumps(list(claim), separators=(",", ":")).encode())
            return raw.rstrip(b"=").decode() + "." + signature

        tampered = [
            forged(other_id, who, expires),  # another alert
            forged(alert_id, "someone-else", expires),  # another person
            forged(alert_id, who, expires + 86400),  # a later expiry
            payload + "." + signature[:-2] + ("AA" if signature[-2:] != "AA" else "BB"),  # the signature
            payload,  # no signature
        ]
        for bad in tampered:
            answer = s.client.post("/ack/" + bad)
            assert (answer.status_code, 'data-outcome="invalid"' in answer.text) == (403, True), bad
        assert all(a.state == AlertState.FIRING for a in s.alerts.engine.open_alerts(s.site))
        assert s.client.post(path_of(link)).status_code == 200


@pytest.mark.real
def test_without_a_public_address_messages_carry_no_link(
    tmp_path: Path, clock: FixedClock, site_id: str, receiver: HttpReceiver
) -> None:
    with served(tmp_path, clock, chat_hall(site_id, receiver.url)) as s:
        fault(s)
        assert receiver.wait_for("/floor-hook")[0].json()["alerts"][0]["ack_url"] is None
        for name in ("floor-wecom", "floor-ding", "floor-lark"):
            assert "/ack/" not in receiver.wait_for(f"/{name}")[0].body.decode()
        answer = s.client.get("/ack/anything.at-all")
        assert (answer.status_code, 'data-outcome="off"' in answer.text) == (404, True)


@pytest.mark.unit
def test_link_tokens_check_their_signature_and_expiry(clock: FixedClock) -> None:
    links = AckLinks(SECRET.encode(), BASE + "/", 600)
    url = links.url("a1", "floor-wecom", clock.now())
    assert url.startswith(BASE + "/ack/")
    token = url.removeprefix(BASE + "/ack/")
    claim = links.check(token, clock.now() + timedelta(seconds=599))
    assert (claim.alert_id, claim.recipient) == ("a1", "floor-wecom")
    with pytest.raises(LinkRefused, match="expired"):
        links.check(token, clock.now() + timedelta(seconds=600))
    with pytest.raises(LinkRefused, match="invalid"):
        AckLinks(b"another-secret" * 3, BASE, 600).check(token, clock.now())
    for bad in ("", ".", "x.y", token + "x", "!!." + token.split(".")[1]):
        with pytest.raises(LinkRefused, match="invalid"):
            links.check(bad, clock.now())
    assert AckLinks.from_config(AckLinkConfig()) is None
    with pytest.raises(ValueError, match="secret"):
        AckLinkConfig(public_base_url=BASE)


MAIL_TO = ["manager@hall.example", "deputy@hall.example"]


def mail_hall(site: str, smtp: SmtpReceiver) -> dict[str, Any]:
    """A hall whose every alert goes by e-mail, in both languages, to :data:`MAIL_TO`."""
    mail = {
        "name": "floor-mail",
        "type": "email",
        "host": smtp.host,
        "port": smtp.port,
        "starttls": False,
        "sender": "alerts@hall.example",
        "to": MAIL_TO,
    }
    notifications = {"channels": [mail], "routes": [{"channels": ["floor-mail"]}], "escalation": []}
    return hall_dict(site, notifications=notifications)


def mail_parts(data: bytes) -> tuple[str, str]:
    """(text part, HTML part) of a recorded mail."""
    mail = message_from_bytes(data, policy=email_policy)
    assert isinstance(mail, EmailMessage)
    text, page = mail.get_body(("plain",)), mail.get_body(("html",))
    assert text is not None
    assert page is not None
    return text.get_content(), page.get_content()


@pytest.mark.real
def test_each_address_gets_its_own_link_in_both_parts_and_it_works_once(
    tmp_path: Path, clock: FixedClock, site_id: str, smtp: SmtpReceiver
) -> None:
    cfg = AckLinkConfig(public_base_url=BASE, secret=SECRET, ttl_s=3600)
    with served(tmp_path, clock, mail_hall(site_id, smtp), ack_links=cfg) as s:
        alert_id = fault(s)
        mails = smtp.wait_for(2)
        assert sorted(m.recipients[0] for m in mails) == sorted(MAIL_TO)
        assert all(len(m.recipients) == 1 for m in mails)
        links: dict[str, str] = {}
        for m in mails:
            text, page = mail_parts(m.data)
            [link] = set(LINK.findall(text))  # one link, under both languages
            assert "点此确认：" + link in text
            assert "Acknowledge: " + link in text
            assert f'<a href="{link}">点此确认</a>' in page
            assert f'<a href="{link}">Acknowledge</a>' in page
            assert "设备故障" in page
            assert "Device fault" in page
            assert f"acknowledges as {m.recipients[0]}" in page
            links[m.recipients[0]] = link
        assert links["manager@hall.example"] != links["deputy@hall.example"]

        page = s.client.get(path_of(links["deputy@hall.example"]), params={"lang": "en"})
        assert "Acknowledge this alert as <b>deputy@hall.example</b>" in page.text
        done = s.client.post(path_of(links["deputy@hall.example"]))
        assert (done.status_code, 'data-outcome="done"' in done.text) == (200, True), done.text
        acked = s.alerts.engine.get(alert_id)
        assert acked is not None
        assert (acked.state, acked.acked_by) == (AlertState.ACKNOWLEDGED, "deputy@hall.example")
        again = s.client.post(path_of(links["deputy@hall.example"]))
        assert (again.status_code, 'data-outcome="used"' in again.text) == (410, True)
        # The acknowledgement's own mails ask for nothing: no link, in either part.
        for m in smtp.wait_for(4)[2:]:
            assert all("/ack/" not in part for part in mail_parts(m.data))


@pytest.mark.real
def test_without_a_public_address_one_mail_goes_to_all_without_a_link(
    tmp_path: Path, clock: FixedClock, site_id: str, smtp: SmtpReceiver
) -> None:
    with served(tmp_path, clock, mail_hall(site_id, smtp)) as s:
        fault(s)
        [mail] = smtp.wait_for(1)
        assert mail.recipients == MAIL_TO
        assert all("/ack/" not in part for part in mail_parts(mail.data))
