"""The e-mail of one batch of alert updates: who gets which message, and its HTML part.

With acknowledge links on (:mod:`server.core.ack_links`), each address of an ``email``
channel gets its own message, whose links acknowledge as that address; without them, one
message goes to all. Each message has a plain-text part (the chat text,
:func:`server.alerts.channels.compose`) and an HTML part in the channel's language(s)
(:func:`email_html`). See docs/alerts.md ("Channels", "Acknowledging from the chat").
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from email.message import EmailMessage

from lobbywatch.config.notify import EmailChannel
from lobbywatch.config.site import SiteConfig
from server.alerts.model import AlertUpdate
from server.alerts.templates import Lang, render

ACK_LABEL: dict[Lang, str] = {"zh-CN": "点此确认", "en": "Acknowledge"}
ACK_NOTE: dict[Lang, str] = {
    "zh-CN": "链接以 {who} 的身份确认，只能使用一次。",
    "en": "The link acknowledges as {who} and works once.",
}


def mail_recipients(channel: EmailChannel, links_on: bool) -> list[tuple[str | None, list[str]]]:
    """(the recipient the links name, the addresses of that message) per message: one per
    address with links on, else one to all (no links)."""
    if not links_on:
        return [(None, list(channel.to))]
    return [(address, [address]) for address in channel.to]


def email_html(
    site: SiteConfig,
    updates: Sequence[AlertUpdate],
    urls: Sequence[str | None],
    langs: Sequence[Lang],
    recipient: str | None,
) -> str:
    """The HTML part: per language the hall, then each alert's title, text and its
    acknowledge link (``urls``, one per update; None: none). Every word is escaped."""
    parts = ['<!doctype html><html><head><meta charset="utf-8"></head><body>']
    for lang in langs:
        hall = site.name.zh_cn if lang == "zh-CN" else site.name.en
        parts.append(f'<section lang="{lang}"><h2>{html.escape(hall)}</h2>')
        for u, url in zip(updates, urls, strict=True):
            title, body = render(u.alert, lang, u.event)
            parts.append(f"<h3>{html.escape(title)}</h3><p>{html.escape(body)}</p>")
            if url is not None:
                note = ACK_NOTE[lang].format(who=html.escape(recipient or ""))
                link = f'<a href="{html.escape(url)}">{ACK_LABEL[lang]}</a>'
                parts.append(f"<p>{link}</p><p><small>{note}</small></p>")
        parts.append("</section>")
    parts.append("</body></html>")
    return "".join(parts)


def email_message(subject: str, text: str, html_doc: str) -> EmailMessage:
    """The message: ``[LobbyWatch] subject``, the text part and its HTML alternative."""
    msg = EmailMessage()
    msg["Subject"] = f"[LobbyWatch] {subject}"
    msg.set_content(text)
    msg.add_alternative(html_doc, subtype="html")
    return msg
