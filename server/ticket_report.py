"""The daily transaction outlier report: per counter and business type, how many tickets
were served, how long they took, and which ran past their business type's limit.

Built from the stored ticket events of one local day (``ticket_events``): a ticket's
transaction runs from its service start (else its call) at a counter to its ``finished``
event; its limit is :func:`lobbywatch.config.business.business_limit_min`. The definitions
are in docs/server.md ("Reports"); ``tests/server/test_ticket_report.py`` checks them.
"""

from __future__ import annotations

import csv
import io
import statistics
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from lobbywatch.config.business import business_limit_min
from lobbywatch.config.site import SiteConfig
from server.storage.tickets import ticket_events_between


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Outlier(_Out):
    ticket: str
    started_at: datetime = Field(description="Service start (else the call).")
    minutes: float = Field(description="Transaction length, minutes.")


class CounterBusinessRow(_Out):
    counter: str
    business: str
    limit_min: float = Field(description="The business type's transaction limit, minutes.")
    served: int = Field(description="Tickets finished at this counter.")
    median_min: float | None = Field(description="Median transaction, minutes.")
    max_min: float | None = Field(description="Longest transaction, minutes.")
    over_limit: int = Field(description="Transactions past the limit.")
    outliers: list[Outlier] = Field(description="Those transactions, longest first.")


class TicketOutlierReport(_Out):
    site: str
    day: date
    period_start: datetime
    period_end: datetime
    rows: list[CounterBusinessRow]


def day_period(timezone: str, day: date) -> tuple[datetime, datetime]:
    """The local day as [start, end) in UTC."""
    start = datetime.combine(day, time(0), tzinfo=ZoneInfo(timezone))
    return start.astimezone(UTC), (start + timedelta(days=1)).astimezone(UTC)


def outlier_report(session: Session, cfg: SiteConfig, day: date) -> TicketOutlierReport:
    """The report of ``cfg``'s hall for the local ``day`` (see the module docstring)."""
    start, end = day_period(cfg.timezone, day)
    began: dict[tuple[str, datetime], tuple[datetime, bool]] = {}  # ticket -> (since, service started)
    done: dict[tuple[str, str], list[tuple[str, datetime, float]]] = {}
    for ev in ticket_events_between(session, cfg.site, start, end):
        key = (ev.ticket, ev.issued_at)
        seen = began.get(key)
        if ev.event == "service_started" and (seen is None or not seen[1]):
            began[key] = (ev.at, True)
        elif ev.event in ("called", "recalled") and seen is None:
            began[key] = (ev.at, False)
        elif ev.event == "transferred":
            began.pop(key, None)
        elif ev.event == "finished" and seen is not None and ev.counter is not None:
            minutes = (ev.at - seen[0]).total_seconds() / 60
            done.setdefault((ev.counter, ev.business), []).append((ev.ticket, seen[0], minutes))
            del began[key]
    rows = []
    for (counter, business), served in sorted(done.items()):
        limit = business_limit_min(cfg.business, cfg.thresholds, business)
        lengths = [m for _, _, m in served]
        over = sorted((s for s in served if s[2] > limit), key=lambda s: -s[2])
        rows.append(
            CounterBusinessRow(
                counter=counter,
                business=business,
                limit_min=limit,
                served=len(served),
                median_min=round(statistics.median(lengths), 2),
                max_min=round(max(lengths), 2),
                over_limit=len(over),
                outliers=[Outlier(ticket=t, started_at=at, minutes=round(m, 2)) for t, at, m in over],
            )
        )
    return TicketOutlierReport(site=cfg.site, day=day, period_start=start, period_end=end, rows=rows)


CSV_COLUMNS = (
    "counter",
    "business",
    "limit_min",
    "served",
    "median_min",
    "max_min",
    "over_limit",
    "outliers",
)


def outliers_csv(report: TicketOutlierReport) -> str:
    """One row per counter and business type; outliers as ``TICKET:minutes;...``."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for r in report.rows:
        data = r.model_dump(mode="json")
        data["outliers"] = ";".join(f"{o.ticket}:{o.minutes}" for o in r.outliers)
        w.writerow(["" if data[c] is None else data[c] for c in CSV_COLUMNS])
    return buf.getvalue()
