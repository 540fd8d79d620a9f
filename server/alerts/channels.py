"""Notification channels: how one batch of alert updates reaches one configured channel.

Each sender raises :class:`ChannelError` when the channel did not take the message, so the
dispatcher can retry. Signatures follow each service's published scheme:

* webhook: ``X-LobbyWatch-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>``
  with ``X-LobbyWatch-Timestamp: <unix seconds>``;
* DingTalk: ``timestamp`` (ms) and ``sign`` = url-encoded base64 HMAC-SHA256 with the secret
  as key over ``"<timestamp>\\n<secret>"``, as query parameters;
* Feishu: ``timestamp`` (s) and ``sign`` = base64 HMAC-SHA256 with ``"<timestamp>\\n<secret>"``
  as key over an empty message, in the JSON body;
* hall displays (``mqtt``): queued for the hall's gateway (:class:`HallDownlink`), which
  publishes them on the hall broker.

Words from devices, configurations or people are escaped per platform before they enter a
message (:mod:`server.alerts.escaping`). With the server's public address configured, each
open alert in a chat, webhook or e-mail message carries its signed acknowledge link
(:mod:`server.core.ack_links`; e-mail: one message per address, :mod:`.channels_email`).
See docs/alerts.md ("Channels").
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from lobbywatch.clock import Clock
from lobbywatch.config.notify import (
    Channel,
    DingTalkChannel,
    EmailChannel,
    FeishuChannel,
    MqttDownlinkChannel,
    SlackChannel,
    WebhookChannel,
    WeComChannel,
)
from lobbywatch.config.site import SiteConfig
from lobbywatch.protocol.messages import AlertNotice, Envelope, LocalizedText
from lobbywatch.protocol.sequence import Stamper
from server.alerts.channels_email import email_html, email_message, mail_recipients
from server.alerts.escaping import (
    Escape,
    escape_lark_text,
    escape_markdown,
    escape_slack,
    escaped_alert,
    plain,
)
from server.alerts.model import AlertUpdate, UpdateEvent
from server.alerts.templates import ACK_LINK, ACK_LINK_MARKDOWN, LANGS, Lang, render
from server.mail import MailError, send_mails

if TYPE_CHECKING:  # the edge's install (no SQL) imports this module through the CLI
    from server.core.ack_links import AckLinks


class ChannelError(RuntimeError):
    """The channel did not accept the message (network error, HTTP error, API error code)."""


class Sender(Protocol):
    def send(
        self, channel: Channel, site: SiteConfig, updates: Sequence[AlertUpdate], timeout_s: float
    ) -> None: ...


# --------------------------------------------------------------------------- signing


def webhook_signature(secret: str, timestamp: str, body: bytes) -> str:
    """``sha256=<hex>`` over ``"<timestamp>." + body``."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """DingTalk robot ``sign`` (not yet url-encoded)."""
    to_sign = f"{timestamp_ms}\n{secret}".encode()
    return base64.b64encode(hmac.new(secret.encode(), to_sign, hashlib.sha256).digest()).decode()


def feishu_sign(secret: str, timestamp_s: int) -> str:
    """Feishu bot ``sign``: the key is ``"<timestamp>\\n<secret>"``, the message is empty."""
    key = f"{timestamp_s}\n{secret}".encode()
    return base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()


def _secret(
    channel: WebhookChannel | WeComChannel | DingTalkChannel | FeishuChannel | SlackChannel,
) -> str | None:
    if channel.secret is not None:
        return channel.secret
    if channel.secret_file is not None:
        return channel.secret_file.read_text().strip()
    return None


# --------------------------------------------------------------------------- text


def _langs(channel: Channel) -> tuple[Lang, ...]:
    return LANGS if channel.language == "both" else (channel.language,)


#: Updates whose message asks for an acknowledgement (and so carries the link).
ASKS_ACK = (UpdateEvent.FIRED, UpdateEvent.REOPENED, UpdateEvent.ESCALATED)


def ack_url(
    links: AckLinks | None, channel: Channel, u: AlertUpdate, recipient: str | None = None
) -> str | None:
    """The acknowledge link of ``u`` for ``recipient`` (default: the people of ``channel``,
    by its name; None: links are off, or the update asks for no acknowledgement). It
    expires ``ttl`` after the update."""
    if links is None or u.event not in ASKS_ACK or u.alert.acked_at is not None:
        return None
    return links.url(u.alert.id, recipient or channel.name, u.at)


def compose(
    channel: Channel,
    site: SiteConfig,
    updates: Sequence[AlertUpdate],
    *,
    markdown: bool,
    escape: Escape = plain,
    links: AckLinks | None = None,
    recipient: str | None = None,
) -> tuple[str, str]:
    """(subject line, text) of a batch, in the channel's language(s); every word that does
    not come from the templates goes through ``escape`` (the channel's syntax). With
    ``links``, each alert asking for acknowledgement ends with its link (for ``recipient``:
    :func:`ack_url`)."""
    lines: list[str] = []
    langs = _langs(channel)
    alerts = [escaped_alert(u.alert, escape) for u in updates]
    urls = [ack_url(links, channel, u, recipient) for u in updates]
    for lang in langs:
        hall = escape(site.name.zh_cn if lang == "zh-CN" else site.name.en)
        lines.append(f"### {hall}" if markdown else f"[{hall}]")
        for u, alert, url in zip(updates, alerts, urls, strict=True):
            title, body = render(alert, lang, u.event)
            lines.append(f"**{title}**\n{body}" if markdown else f"{title}\n{body}")
            if url is not None:
                lines.append((ACK_LINK_MARKDOWN if markdown else ACK_LINK)[lang].format(url=url))
        lines.append("")
    first = render(alerts[0], langs[0], updates[0].event)[0]
    subject = first if len(updates) == 1 else f"{first} (+{len(updates) - 1})"
    return subject, "\n".join(lines).strip()


def update_json(u: AlertUpdate, url: str | None = None) -> dict[str, Any]:
    """One update as the webhook's JSON; ``url``: its acknowledge link (``ack_url``)."""
    a = u.alert
    texts = {lang: render(a, lang, u.event) for lang in LANGS}
    return {
        "id": a.id,
        "event": str(u.event),
        "kind": a.kind,
        "subject": a.subject,
        "severity": str(a.severity),
        "state": str(a.state),
        "audience": list(u.audience),
        "zone": a.zone,
        "device": a.device,
        "vendor": a.vendor,
        "started_at": a.started_at.isoformat(),
        "updated_at": a.updated_at.isoformat(),
        "at": u.at.isoformat(),
        "acked_by": a.acked_by,
        "ack_comment": a.ack_comment,
        "escalation_level": a.escalation_level,
        "title": {lang: t for lang, (t, _) in texts.items()},
        "body": {lang: b for lang, (_, b) in texts.items()},
        "params": a.params,
        "ack_url": url,
    }


# --------------------------------------------------------------------------- HTTP


def _post(
    url: str, payload: dict[str, Any], timeout_s: float, headers: dict[str, str] | None = None
) -> bytes:
    body = json.dumps(payload, ensure_ascii=False, default=str).encode()
    return post_bytes(url, body, timeout_s, headers)


def post_bytes(url: str, body: bytes, timeout_s: float, headers: dict[str, str] | None = None) -> bytes:
    req = urllib.request.Request(url, data=body, method="POST")
    req.add_header("Content-Type", "application/json; charset=utf-8")
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as resp:
            data: bytes = resp.read()
            return data
    except urllib.error.HTTPError as exc:
        raise ChannelError(f"HTTP {exc.code} from {urllib.parse.urlsplit(url).netloc}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise ChannelError(f"cannot reach {urllib.parse.urlsplit(url).netloc}: {exc}") from None


def _check_api(answer: bytes, *fields: str) -> None:
    """Chat robots answer 200 with an error code in the body; non-zero is a failure."""
    try:
        data = json.loads(answer or b"{}")
    except ValueError:
        return
    if not isinstance(data, dict):
        return
    for name in fields:
        code = data.get(name)
        if code not in (None, 0):
            raise ChannelError(f"API error {name}={code}: {data.get('errmsg') or data.get('msg')}")


class HttpSenders:
    """Webhook, WeCom, DingTalk, Feishu and Slack senders over HTTP(S).

    Signature timestamps use real wall time (``wall``), not the engine's clock: the receiving
    services check them against their own clocks (DingTalk rejects more than an hour off),
    and a simulation may run the engine on a scaled clock.
    """

    def __init__(self, wall: Callable[[], float] = time.time, links: AckLinks | None = None) -> None:
        self._wall = wall
        self._links = links

    def send(
        self, channel: Channel, site: SiteConfig, updates: Sequence[AlertUpdate], timeout_s: float
    ) -> None:
        now = datetime.fromtimestamp(self._wall(), UTC)
        links = self._links
        if isinstance(channel, WebhookChannel):
            body = json.dumps(
                {
                    "site": site.site,
                    "site_name": {"en": site.name.en, "zh-CN": site.name.zh_cn},
                    "alerts": [update_json(u, ack_url(links, channel, u)) for u in updates],
                },
                ensure_ascii=False,
                default=str,
            ).encode()
            headers: dict[str, str] = {}
            secret = _secret(channel)
            if secret:
                ts = str(int(now.timestamp()))
                headers["X-LobbyWatch-Timestamp"] = ts
                headers["X-LobbyWatch-Signature"] = webhook_signature(secret, ts, body)
            post_bytes(channel.url, body, timeout_s, headers)
        elif isinstance(channel, WeComChannel):
            _, text = compose(channel, site, updates, markdown=True, escape=escape_markdown, links=links)
            answer = _post(
                channel.url, {"msgtype": "markdown", "markdown": {"content": text[:4000]}}, timeout_s
            )
            _check_api(answer, "errcode")
        elif isinstance(channel, DingTalkChannel):
            title, text = compose(channel, site, updates, markdown=True, escape=escape_markdown, links=links)
            url = channel.url
            secret = _secret(channel)
            if secret:
                ms = int(now.timestamp() * 1000)
                sign = urllib.parse.quote_plus(dingtalk_sign(secret, ms))
                url += ("&" if "?" in url else "?") + f"timestamp={ms}&sign={sign}"
            answer = _post(
                url, {"msgtype": "markdown", "markdown": {"title": title, "text": text}}, timeout_s
            )
            _check_api(answer, "errcode")
        elif isinstance(channel, FeishuChannel):
            _, text = compose(channel, site, updates, markdown=False, escape=escape_lark_text, links=links)
            payload: dict[str, Any] = {"msg_type": "text", "content": {"text": text}}
            secret = _secret(channel)
            if secret:
                s = int(now.timestamp())
                payload = {"timestamp": str(s), "sign": feishu_sign(secret, s), **payload}
            answer = _post(channel.url, payload, timeout_s)
            _check_api(answer, "code", "StatusCode")
        elif isinstance(channel, SlackChannel):
            _, text = compose(channel, site, updates, markdown=False, escape=escape_slack, links=links)
            _post(channel.url, {"text": text, "mrkdwn": False}, timeout_s)
        else:
            raise ChannelError(f"HttpSenders cannot send to a {channel.type} channel")


class EmailSender:
    """E-mail over SMTP (:func:`server.mail.send_mails`: verified STARTTLS, login when
    configured), text and HTML; with ``links``, one message per address, each with links
    that acknowledge as that address (:mod:`server.alerts.channels_email`)."""

    def __init__(self, links: AckLinks | None = None) -> None:
        self._links = links

    def send(
        self, channel: Channel, site: SiteConfig, updates: Sequence[AlertUpdate], timeout_s: float
    ) -> None:
        if not isinstance(channel, EmailChannel):
            raise ChannelError(f"EmailSender cannot send to a {channel.type} channel")
        links, mails = self._links, []
        for who, to in mail_recipients(channel, links is not None):
            subject, text = compose(channel, site, updates, markdown=False, links=links, recipient=who)
            urls = [ack_url(links, channel, u, who) for u in updates]
            page = email_html(site, updates, urls, _langs(channel), who)
            mails.append((email_message(subject, text, page), to))
        try:
            send_mails(channel, mails, timeout_s)
        except MailError as exc:
            raise ChannelError(str(exc)) from None


class HallQueue(Protocol):
    """Where messages for a hall wait for its gateway (:class:`server.downlink.DownlinkQueue`);
    ``put`` raises :class:`RuntimeError` when it cannot take them."""

    def put(self, site: str, messages: Sequence[Envelope]) -> list[int]: ...


class HallDownlink:
    """Queues an :class:`AlertNotice` per update for the hall's gateway, which publishes it on
    the hall's alert downlink topic (``docs/gateway.md``, "Downlink"). The server never
    connects to a hall's broker: halls sit behind NAT."""

    SOURCE = "server-alerts"

    def __init__(self, clock: Clock, queue: HallQueue | None) -> None:
        self._clock = clock
        self._queue = queue
        self._stampers: dict[str, Stamper] = {}
        self._lock = threading.Lock()

    def notices(self, site: SiteConfig, updates: Sequence[AlertUpdate]) -> list[AlertNotice]:
        with self._lock:
            stamper = self._stampers.setdefault(
                site.site,
                Stamper(site.site, self.SOURCE, clock=self._clock, epoch=int(self._clock.now().timestamp())),
            )
        out = []
        for u in updates:
            texts = {lang: render(u.alert, lang, u.event) for lang in LANGS}
            out.append(
                stamper.make(
                    AlertNotice,
                    alert_id=u.alert.id,
                    kind=u.alert.kind,
                    severity=u.alert.severity,
                    state=u.alert.state,
                    title=LocalizedText.model_validate({"zh-CN": texts["zh-CN"][0], "en": texts["en"][0]}),
                    body=LocalizedText.model_validate(
                        {"zh-CN": texts["zh-CN"][1][:1000], "en": texts["en"][1][:1000]}
                    ),
                    zone=u.alert.zone,
                    device=u.alert.device,
                )
            )
        return out

    def send(
        self, channel: Channel, site: SiteConfig, updates: Sequence[AlertUpdate], timeout_s: float
    ) -> None:
        if not isinstance(channel, MqttDownlinkChannel):
            raise ChannelError(f"HallDownlink cannot send to a {channel.type} channel")
        if self._queue is None:
            raise ChannelError("this server has no downlink queue")
        try:
            self._queue.put(site.site, self.notices(site, updates))
        except RuntimeError as exc:
            raise ChannelError(f"downlink queue of {site.site}: {exc}") from None


def default_senders(
    clock: Clock, downlink: HallQueue | None = None, *, links: AckLinks | None = None
) -> dict[str, Sender]:
    """A sender for every channel type: chat, webhook and e-mail messages carry ``links``; ``mqtt``
    (the hall displays) goes through ``downlink``."""
    http = HttpSenders(links=links)
    return {
        "webhook": http,
        "wecom": http,
        "dingtalk": http,
        "feishu": http,
        "slack": http,
        "email": EmailSender(links),
        "mqtt": HallDownlink(clock, downlink),
    }
