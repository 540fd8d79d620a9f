"""Acknowledge from the chat: the pages behind the signed links of chat messages.

* ``GET /ack/{token}``: a confirmation page naming the alert and the recipient, with one
  button; it changes nothing (chat apps fetch links for their previews).
* ``POST /ack/{token}``: acknowledges the alert as the recipient the link was sent to, once.

The token is checked by :mod:`server.core.ack_links` (signature, expiry, single use in SQL).
Pages are plain HTML in the asker's language (``?lang=``, else ``Accept-Language``), with no
script, under the pages' security headers. See docs/alerts.md ("Acknowledging from the chat").
"""

from __future__ import annotations

import html
from typing import Annotated

from fastapi import APIRouter, Header, Path, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse

from lobbywatch.protocol.enums import AlertState
from lobbywatch.web import PAGE_HEADERS
from server.alerts import Alert
from server.alerts.templates import Lang, render
from server.api.deps import CtxDep
from server.context import ServerContext
from server.core.ack_links import ACK_PATH, AckClaim, LinkRefused, link_used, links_for, use_link

router = APIRouter(tags=["pages"])

TEXTS: dict[str, dict[Lang, str]] = {
    "title": {"zh-CN": "确认告警", "en": "Acknowledge alert"},
    "ask": {"zh-CN": "以 {who} 的身份确认这条告警？", "en": "Acknowledge this alert as {who}?"},
    "button": {"zh-CN": "确认", "en": "Acknowledge"},
    "done": {"zh-CN": "已确认（{who}）。", "en": "Acknowledged as {who}."},
    "acked": {"zh-CN": "此告警已由 {who} 确认。", "en": "This alert was acknowledged by {who}."},
    "invalid": {
        "zh-CN": "链接无效（已被修改或不完整）。",
        "en": "This link is not valid (altered or incomplete).",
    },
    "expired": {
        "zh-CN": "链接已过期。请在值班告警页确认。",
        "en": "This link has expired. Acknowledge on the staff page.",
    },
    "used": {
        "zh-CN": "链接已使用过，每个链接只能使用一次。",
        "en": "This link has been used; each link works once.",
    },
    "unknown": {"zh-CN": "找不到这条告警。", "en": "There is no such alert."},
    "resolved": {
        "zh-CN": "此告警已恢复，无需确认。",
        "en": "This alert is resolved; nothing to acknowledge.",
    },
    "off": {"zh-CN": "本服务器未启用确认链接。", "en": "This server has acknowledge links turned off."},
    "switch": {"zh-CN": "English", "en": "中文"},
}
STATUS = {"invalid": 403, "expired": 410, "used": 410, "unknown": 404, "resolved": 409, "off": 404}

TokenPath = Annotated[str, Path(max_length=600, description="The signed link token.")]
LangQuery = Annotated[str | None, Query(max_length=10, description="zh-CN or en.")]
AcceptLanguage = Annotated[str | None, Header(max_length=200)]


def _lang(asked: str | None, accept: str | None) -> Lang:
    text = (asked or accept or "").lower()
    return "zh-CN" if text.startswith("zh") else "en"


def _page(lang: Lang, token: str, body: str, status: int = 200) -> HTMLResponse:
    other: Lang = "en" if lang == "zh-CN" else "zh-CN"
    doc = (
        f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{TEXTS['title'][lang]} · LobbyWatch</title>"
        '<link rel="stylesheet" href="/web/static/base.css">'
        '<link rel="stylesheet" href="/web/static/ack.css"></head>'
        f'<body class="ack-page"><main><h1>{TEXTS["title"][lang]}</h1>{body}'
        f'<p><a class="switch" href="{ACK_PATH}{html.escape(token)}?lang={other}">{TEXTS["switch"][lang]}</a>'
        "</p></main></body></html>"
    )
    return HTMLResponse(doc, status_code=status, headers=PAGE_HEADERS)


def _message(lang: Lang, token: str, key: str, **values: str) -> HTMLResponse:
    text = TEXTS[key][lang].format(**{k: html.escape(v) for k, v in values.items()})
    return _page(lang, token, f'<p class="msg" data-outcome="{key}">{text}</p>', STATUS.get(key, 200))


def _alert_html(alert: Alert, lang: Lang) -> str:
    title, body = render(alert, lang)
    head = f'<section class="alert sev-{alert.severity}">'
    return f"{head}<h2>{html.escape(title)}</h2><p>{html.escape(body)}</p></section>"


def _claim(ctx: ServerContext, token: str) -> tuple[AckClaim | None, str | None]:
    """The link's claim, or why it is refused (``off``, ``invalid``, ``expired``, ``used``)."""
    links = links_for(ctx.settings.ack_links)
    if links is None:
        return None, "off"
    try:
        claim = links.check(token, ctx.clock.now())
    except LinkRefused as exc:
        return None, exc.reason
    with ctx.db.session() as session:
        if link_used(session, claim):
            return None, "used"
    return claim, None


def _open_alert(ctx: ServerContext, claim: AckClaim) -> tuple[Alert | None, str | None]:
    alert = ctx.alerts.engine.get(claim.alert_id) if ctx.alerts is not None else None
    if alert is None:
        return None, "unknown"
    if alert.state == AlertState.RESOLVED:
        return alert, "resolved"
    return alert, None


@router.get(
    "/ack/{token}",
    response_class=HTMLResponse,
    description=(
        "**Role: none** (the signed link is the authority). Confirmation page of a chat "
        "acknowledge link; changes nothing."
    ),
)
async def confirm_page(
    token: TokenPath, ctx: CtxDep, lang: LangQuery = None, accept_language: AcceptLanguage = None
) -> HTMLResponse:
    tongue = _lang(lang, accept_language)
    claim, refused = await run_in_threadpool(_claim, ctx, token)
    if claim is None:
        return _message(tongue, token, refused or "invalid")
    alert, closed = _open_alert(ctx, claim)
    if alert is None or closed is not None:
        return _message(tongue, token, closed or "unknown")
    ask = TEXTS["ask"][tongue].format(who=f"<b>{html.escape(claim.recipient)}</b>")
    acked = ""
    if alert.acked_by is not None:
        acked = f'<p class="note">{TEXTS["acked"][tongue].format(who=html.escape(alert.acked_by))}</p>'
    form = (
        f'<form method="post" action="{ACK_PATH}{html.escape(token)}?lang={tongue}">'
        f'<button type="submit" data-testid="ack">{TEXTS["button"][tongue]}</button></form>'
    )
    return _page(tongue, token, _alert_html(alert, tongue) + acked + f"<p>{ask}</p>" + form)


def _acknowledge(ctx: ServerContext, token: str) -> tuple[AckClaim | None, str | None]:
    """Check the link, record its use and acknowledge its alert (blocking)."""
    claim, refused = _claim(ctx, token)
    if claim is None:
        return None, refused
    alert, closed = _open_alert(ctx, claim)
    if alert is None or closed is not None:
        return None, closed or "unknown"
    try:
        with ctx.db.session() as session:
            use_link(session, claim, ctx.clock.now())
    except LinkRefused as exc:
        return None, exc.reason
    assert ctx.alerts is not None
    try:
        ctx.alerts.engine.acknowledge(claim.alert_id, claim.recipient)
    except KeyError:
        return None, "resolved"
    return claim, None


@router.post(
    "/ack/{token}",
    response_class=HTMLResponse,
    description=(
        "**Role: none** (the signed link is the authority). Acknowledge the link's alert as "
        "the recipient it names: once (403 altered, 410 expired or used, 404 unknown alert, "
        "409 resolved)."
    ),
)
async def acknowledge(
    token: TokenPath, ctx: CtxDep, lang: LangQuery = None, accept_language: AcceptLanguage = None
) -> HTMLResponse:
    tongue = _lang(lang, accept_language)
    claim, refused = await run_in_threadpool(_acknowledge, ctx, token)
    if claim is None:
        return _message(tongue, token, refused or "invalid")
    return _message(tongue, token, "done", who=claim.recipient)
