"""The demo's simulated day: the first day from today on (the halls' local date) on which every
demo hall is open, and the moment they all are, a little after the last of them opens. A demo
started on a Sunday, when the bank branch is closed, simulates the Monday instead of showing
a dead hall. Opening hours are read through :mod:`server.opening_hours`. ``docs/demo.md``,
"The simulated day".
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from lobbywatch.config.site import SiteConfig
from server.opening_hours import Interval, config_periods, opening_intervals

AFTER_OPENING = timedelta(minutes=1)
"""How long after the last hall opens the simulated clock starts (every door is open)."""

WEEKDAYS_EN = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
WEEKDAYS_ZH = ("星期一", "星期二", "星期三", "星期四", "星期五", "星期六", "星期日")


def _common(xs: list[Interval], ys: list[Interval]) -> list[Interval]:
    """The times both sets of intervals cover."""
    out: list[Interval] = []
    for a, b in xs:
        for c, d in ys:
            lo, hi = max(a, c), min(b, d)
            if lo < hi:
                out.append((lo, hi))
    return sorted(out)


def all_open_start(configs: Sequence[SiteConfig], now: datetime) -> datetime:
    """When the demo's clock starts: on the first day from ``now``'s date (in the first
    hall's time zone; the demo's halls share one) on which every hall is open at one time,
    :data:`AFTER_OPENING` after the first moment they all are (today's, even when it has
    passed). Raises ValueError when they never are within a week."""
    tz = ZoneInfo(configs[0].timezone)
    today = now.astimezone(tz).date()
    for days in range(8):
        day = today + timedelta(days=days)
        start = datetime.combine(day, time(), tz).astimezone(UTC)
        end = datetime.combine(day + timedelta(days=1), time(), tz).astimezone(UTC)
        common = [(start, end)]
        for cfg in configs:
            common = _common(common, opening_intervals(cfg.timezone, config_periods(cfg), start, end))
        for a, b in common:
            if b - a > AFTER_OPENING:
                return a + AFTER_OPENING
    raise ValueError(
        "the demo's halls are never open at the same time within a week / 演示营业厅一周内没有共同营业时间"
    )


def day_lines(start: datetime, tz: ZoneInfo, today: date) -> tuple[str, str]:
    """What the demo says about the day it simulates (en, zh-CN), and why when it is not today."""
    local = start.astimezone(tz)
    weekday = local.weekday()
    when = f"{local:%Y-%m-%d}"
    en = (
        f"Simulated day: {WEEKDAYS_EN[weekday]} {when} from {local:%H:%M} ({tz.key}): "
        "every demo hall opens that day"
    )
    zh = f"模拟日期：{when} {WEEKDAYS_ZH[weekday]} {local:%H:%M}（{tz.key}）起，当天所有演示营业厅均营业"
    if local.date() != today:
        en += f" (today, {WEEKDAYS_EN[today.weekday()]}, not all of them do)"
        zh += f"（今天{WEEKDAYS_ZH[today.weekday()]}并非全部营业）"
    return en + ".", zh + "。"
