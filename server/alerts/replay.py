"""Replay recorded messages through the engine, notifying nobody (for tuning thresholds)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from lobbywatch.clock import FixedClock
from lobbywatch.config.site import SiteConfig
from lobbywatch.protocol.codec import ProtocolError, decode_obj
from lobbywatch.protocol.messages import Envelope
from server.alerts.engine import AlertEngine
from server.alerts.model import AlertUpdate
from server.alerts.store import MemoryAlertStore

TICK = timedelta(seconds=1)


@dataclass(frozen=True, slots=True)
class BadLine:
    line: int
    error: str


def read_jsonl(path: Path) -> Iterator[Envelope | BadLine]:
    """Messages of a JSON-lines file; a bad line is a :class:`BadLine` naming line and field."""
    with path.open(encoding="utf-8") as fh:
        for n, raw in enumerate(fh, start=1):
            text = raw.strip()
            if not text or text.startswith("#"):
                continue
            try:
                yield decode_obj(json.loads(text))
            except json.JSONDecodeError as exc:
                yield BadLine(n, f"not JSON: {exc}")
            except ProtocolError as exc:
                yield BadLine(n, str(exc))


def replay(cfg: SiteConfig, items: Iterable[Envelope | BadLine]) -> tuple[list[AlertUpdate], list[BadLine]]:
    """Feed messages in file order; time comes from each message's ``ts``, ticking every second."""
    updates: list[AlertUpdate] = []
    bad: list[BadLine] = []
    engine: AlertEngine | None = None
    clock: FixedClock | None = None
    for item in items:
        if isinstance(item, BadLine):
            bad.append(item)
            continue
        if item.site != cfg.site:
            bad.append(BadLine(0, f"message {item.id} is for site {item.site!r}, not {cfg.site!r}"))
            continue
        if clock is None or engine is None:
            clock = FixedClock(item.ts)
            engine = AlertEngine([cfg], clock=clock, store=MemoryAlertStore())
        while clock.now() + TICK <= item.ts:
            clock.advance(TICK.total_seconds())
            updates += engine.tick()
        if item.ts > clock.now():
            clock.set(item.ts)
        updates += engine.feed(item)
    if engine is not None and clock is not None:
        clock.advance(TICK.total_seconds())
        updates += engine.tick()
    return updates, bad


def format_update(u: AlertUpdate, cfg: SiteConfig) -> str:
    """One line: local time, event, kind, subject, title in both languages, and why it
    would not be sent (a silence, flapping)."""
    from zoneinfo import ZoneInfo

    from server.alerts.templates import render

    local = u.at.astimezone(ZoneInfo(cfg.timezone))
    en = render(u.alert, "en", u.event)[0]
    zh = render(u.alert, "zh-CN", u.event)[0]
    quiet = "" if u.held_back is None else f" (quiet: {u.held_back})"
    head = f"{local:%Y-%m-%d %H:%M:%S} {u.event.value:<12} {u.alert.kind:<20} {u.alert.subject:<24}"
    return f"{head} {en} | {zh}{quiet}"
