"""Words from outside (devices, configurations, people) made safe for each chat platform.

A fault's ``detail``, ids, zone and hall names and an acknowledgement comment are escaped
before they enter a chat message (:func:`escaped_alert`), so they cannot add links, images,
mentions or markdown structure. Which escape each channel uses: docs/alerts.md ("Channels").
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from server.alerts.model import Alert
from server.alerts.templates import TEXT_PARAMS, TEXTS

Escape = Callable[[str], str]

_LINE_BREAKS = re.compile(r"[\r\n\v\f\x85\u2028\u2029]+")
#: Characters that open links, images, mentions, HTML or emphasis in WeCom's and DingTalk's
#: markdown, swapped for their full-width look-alikes (neither platform documents a
#: backslash escape, so a look-alike is the one way that renders the same everywhere).
_MARKDOWN_SWAP = str.maketrans(
    {
        "\\": "＼",
        "`": "｀",
        "*": "＊",
        "[": "［",
        "]": "］",
        "(": "（",
        ")": "）",
        "<": "＜",
        ">": "＞",
        "#": "＃",
        "!": "！",
        "|": "｜",
        "~": "～",
        "@": "＠",
        "&": "＆",
    }
)
_EDGE_UNDERSCORE = re.compile(r"(?<!\w)_|_(?!\w)")  # _emphasis_; ids like kiosk_bill_1 stay
_BLOCK_START = re.compile(r"^(\s*)(?:([-+=])|(\d+)\.)")  # a list item, a rule or a heading line


def _no_autolink(text: str) -> str:
    """``https://x`` shown, not linked: the colon is swapped for a full-width one."""
    return text.replace("://", "：//")


def escape_markdown(text: str) -> str:
    """``text`` as literal words in a markdown message: one line, no markdown syntax."""
    flat = _EDGE_UNDERSCORE.sub("＿", _LINE_BREAKS.sub(" ", text)).translate(_MARKDOWN_SWAP)
    flat = _BLOCK_START.sub(
        lambda m: m[1] + ({"-": "－", "+": "＋", "=": "＝"}.get(m[2]) or m[3] + "．"), flat
    )
    return _no_autolink(flat)


def escape_lark_text(text: str) -> str:
    """``text`` in a Feishu text message: ``<at user_id="all">`` and the like shown, not mentions."""
    return _no_autolink(text.replace("<", "＜").replace(">", "＞"))


def escape_slack(text: str) -> str:
    """``text`` in a Slack message: ``&``, ``<``, ``>`` as entities (Slack's own escaping), so
    ``<@U123>``, ``<!channel>`` and ``<https://x|y>`` are shown, not acted on."""
    return _no_autolink(text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"))


def plain(text: str) -> str:
    """No escaping (e-mail and the MQTT downlink carry plain text fields)."""
    return text


def escaped_alert(alert: Alert, escape: Escape) -> Alert:
    """A copy of ``alert`` whose outside words (parameters, subject, acknowledgement) are
    escaped; numbers and the text keys of :data:`TEXTS` stay as they are, so the templates'
    own words and formats render unchanged. The one place where such words enter a chat body."""

    def one(value: Any) -> Any:
        return escape(value) if isinstance(value, str) else value

    def param(key: str, value: Any) -> Any:
        if key in TEXT_PARAMS and isinstance(value, str) and value in TEXTS:
            return value
        if isinstance(value, dict):
            return {k: one(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [one(v) for v in value]
        return one(value)

    return alert.evolve(
        site=escape(alert.site),
        subject=escape(alert.subject),
        params={k: param(k, v) for k, v in alert.params.items()},
        acked_by=one(alert.acked_by),
        ack_comment=one(alert.ack_comment),
    )
