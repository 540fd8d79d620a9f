"""Peak and quiet hours: an hour-of-week profile of arrivals and occupancy per hall, a
seasonal-naive forecast for the coming hours with the expected peak, and "best time to
visit" advice. Used by the alert engine's peak-time rule (:mod:`server.alerts.forecast`) and
by ``GET /api/v1/sites/{site}/forecast``. See ``docs/server.md``, "Forecast".
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.reports import opening_intervals
from server.storage.models import Site, SiteMinute

WEEKDAY_EN = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
WEEKDAY_ZH = ("周一", "周二", "周三", "周四", "周五", "周六", "周日")


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ProfileHour(_Out):
    hour_of_week: int = Field(ge=0, lt=168, description="Monday 00:00 local = 0.")
    weekday: int = Field(ge=0, le=6, description="0 = Monday.")
    hour: int = Field(ge=0, le=23, description="Local hour.")
    arrivals: float = Field(description="Mean arrivals in this hour.")
    occupancy: float = Field(description="Mean people in the hall.")
    samples: int = Field(description="How many past hours the means are over.")


class ForecastHour(_Out):
    start: datetime = Field(description="Hour start (UTC).")
    local_start: str = Field(description="Hour start, local time, e.g. 'mon 14:00'.")
    open: bool = Field(description="Whether the hall is open in (part of) this hour.")
    arrivals: float | None = Field(description="Expected arrivals; null without history.")
    occupancy: float | None = Field(description="Expected mean occupancy; null without history.")


class QuietAdvice(_Out):
    weekday: int
    hours: list[str] = Field(description="Quietest open hours, local, e.g. '14:00-15:00'.")
    en: str
    zh_cn: str = Field(alias="zh-CN", serialization_alias="zh-CN")
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Forecast(_Out):
    site: str
    timezone: str
    generated_at: datetime
    hours: list[ForecastHour]
    peak: ForecastHour | None = Field(description="The open hour with the most expected arrivals.")
    quiet: list[QuietAdvice] = Field(description="Best times to visit, per weekday (next 7 days).")


def profile(session: Session, site: Site, now: datetime, weeks: int = 8) -> dict[int, ProfileHour]:
    """Mean arrivals and occupancy per local hour of the week over the completed hours of the
    past ``weeks`` weeks (the hour under way is not a sample: it has only begun)."""
    tz = ZoneInfo(site.timezone)
    this_hour = now.astimezone(tz).replace(minute=0, second=0, microsecond=0)
    rows = session.execute(
        select(
            SiteMinute.minute, SiteMinute.arrivals, SiteMinute.occupancy_sum, SiteMinute.occupancy_samples
        ).where(
            SiteMinute.site == site.id,
            SiteMinute.minute >= this_hour - timedelta(weeks=weeks),
            SiteMinute.minute < this_hour,
        )
    ).all()
    hours: dict[tuple[str, int], list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])
    how: dict[tuple[str, int], int] = {}
    for minute, arrivals, occ_sum, occ_n in rows:
        local = minute.astimezone(tz)
        key = (local.date().isoformat(), local.hour)
        acc = hours[key]
        acc[0] += arrivals
        if occ_n:
            acc[1] += occ_sum / occ_n
            acc[2] += 1
        how[key] = local.weekday() * 24 + local.hour
    buckets: dict[int, list[tuple[float, float]]] = defaultdict(list)
    for key, (arr, occ, n) in hours.items():
        buckets[how[key]].append((arr, occ / n if n else 0.0))
    return {
        h: ProfileHour(
            hour_of_week=h,
            weekday=h // 24,
            hour=h % 24,
            arrivals=round(sum(a for a, _ in vals) / len(vals), 3),
            occupancy=round(sum(o for _, o in vals) / len(vals), 3),
            samples=len(vals),
        )
        for h, vals in sorted(buckets.items())
    }


def _hour_is_open(site: Site, start: datetime) -> bool:
    return bool(opening_intervals(site, start, start + timedelta(hours=1)))


def forecast(session: Session, site: Site, now: datetime, hours: int = 12, weeks: int = 8) -> Forecast:
    """The next ``hours`` hours of ``site`` from ``now``, each with its profile bucket's arrivals
    and occupancy (None without data) and whether the hall is open; the peak (the open hour
    with most arrivals, the earliest on a tie); and per weekday of the coming week the two
    quietest open hours, in en and zh-CN. The profile covers the past ``weeks`` weeks.
    """
    tz = ZoneInfo(site.timezone)
    prof = profile(session, site, now, weeks)
    local_now = now.astimezone(tz).replace(minute=0, second=0, microsecond=0)
    out: list[ForecastHour] = []
    for i in range(hours):
        local = (local_now + timedelta(hours=i)).astimezone(tz)
        p = prof.get(local.weekday() * 24 + local.hour)
        out.append(
            ForecastHour(
                start=local.astimezone(UTC),
                local_start=f"{local:%a %H:%M}".lower(),
                open=_hour_is_open(site, local.astimezone(UTC)),
                arrivals=p.arrivals if p else None,
                occupancy=p.occupancy if p else None,
            )
        )
    candidates = [h for h in out if h.open and h.arrivals is not None]
    peak = max(candidates, key=lambda h: (h.arrivals or 0.0, -h.start.timestamp())) if candidates else None
    quiet: list[QuietAdvice] = []
    for d in range(7):
        day = (local_now + timedelta(days=d)).date()
        wd = day.weekday()
        open_hours = []
        for hour in range(24):
            start = datetime(day.year, day.month, day.day, hour, tzinfo=tz)
            p = prof.get(wd * 24 + hour)
            if p is not None and _hour_is_open(site, start.astimezone(UTC)):
                open_hours.append((p.occupancy, hour))
        if not open_hours:
            continue
        best = sorted(h for _, h in sorted(open_hours)[:2])
        spans = [f"{h:02d}:00-{h + 1:02d}:00" for h in best]
        quiet.append(
            QuietAdvice(
                weekday=wd,
                hours=spans,
                en=f"Quietest times on {WEEKDAY_EN[wd]}: {', '.join(spans)}.",
                zh_cn=f"{WEEKDAY_ZH[wd]}较空闲的时段：{'、'.join(spans)}。",
            )
        )
    return Forecast(site=site.id, timezone=site.timezone, generated_at=now, hours=out, peak=peak, quiet=quiet)
