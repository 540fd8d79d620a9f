"""The monthly device log: made for each hall's manager and each of its vendors once a month
is over, mailed with a CSV and a readable HTML attachment, and kept for download.

On the first check of a month in a hall's time zone (a thread every ``check_s``, on the
injected clock) the previous month's logs are made, one per recipient (``manager``: every
device of the hall; ``vendor:<id>``: that vendor's devices), from
:func:`server.reports.group_report` with each fault against its vendor's targets, and kept
in ``device_logs``; a server that was down on the 1st makes them when it starts. Each log
not yet sent is mailed through the e-mail channels the hall's ``service_levels`` name
(``manager_report_channels``, a vendor's ``report_channels``) and marked ``sent_at``, so a
restart sends nothing twice; a failed mailing is tried again after ``retry_s``.
See docs/server.md ("Reports").
"""

from __future__ import annotations

import html
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from lobbywatch.clock import Clock
from lobbywatch.config.notify import EmailChannel
from lobbywatch.config.site import SiteConfig
from lobbywatch.periodic import PeriodicThread
from server.mail import MailError, send_mail
from server.reports import GroupReport, devices_csv, faults_csv, group_report, month_period
from server.storage.db import Database
from server.storage.models import Device, DeviceLog, Site

log = logging.getLogger(__name__)

MANAGER = "manager"


def last_month(cfg: SiteConfig, now: datetime) -> str:
    """``YYYY-MM`` of the month before ``now``'s, in the hall's time zone."""
    first = now.astimezone(ZoneInfo(cfg.timezone)).replace(day=1)
    return (first - timedelta(days=1)).strftime("%Y-%m")


def file_name(row: DeviceLog, kind: str) -> str:
    """``<site>-<month>[-<vendor>][-faults].<csv|html>``."""
    who = f"-{row.vendor}" if row.vendor else ""
    return {
        "csv": f"{row.site}-{row.month}{who}.csv",
        "faults.csv": f"{row.site}-{row.month}{who}-faults.csv",
        "html": f"{row.site}-{row.month}{who}.html",
    }[kind]


@dataclass
class MonthlyDeviceLogs:
    """Makes, mails and keeps the monthly device logs of the server's halls."""

    db: Database
    clock: Clock
    configs: Mapping[str, SiteConfig]
    check_s: float = 1.0
    retry_s: float = 600.0
    timeout_s: float = 10.0
    done: set[tuple[str, str]] = field(default_factory=set)
    """(site, month) whose logs are made and sent (or kept only)."""
    _retry_at: dict[tuple[str, str], datetime] = field(default_factory=dict)
    _timer: PeriodicThread = field(init=False)

    def __post_init__(self) -> None:
        # The first check at start: a server that was down on the 1st makes the logs now.
        self._timer = PeriodicThread("device-logs", self.check_s, self.run_due, at_start=True)

    def start(self) -> None:
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop(10)

    def run_due(self) -> None:
        """Make and send the logs of the month just over, in every hall where not done yet."""
        now = self.clock.now()
        for cfg in list(self.configs.values()):
            key = (cfg.site, last_month(cfg, now))
            if key in self.done or now < self._retry_at.get(key, now):
                continue
            try:
                with self.db.session() as session:
                    made = self._make(session, cfg, key[1], now)
                if made:
                    log.info("made %d device logs of %s for %s", made, key[1], cfg.site)
                finished = self._send(cfg, key[1])
            except Exception:  # one hall's trouble must not stop the others
                log.exception("device logs of %s for %s failed", key[1], cfg.site)
                finished = False
            if finished:
                self.done.add(key)
            else:
                self._retry_at[key] = now + timedelta(seconds=self.retry_s)

    def _make(self, session: Session, cfg: SiteConfig, month: str, now: datetime) -> int:
        """The logs of ``month`` not made yet: the manager's, then each vendor's."""
        site = session.get(Site, cfg.site)
        if site is None:
            return 0
        have = set(
            session.scalars(
                select(DeviceLog.recipient).where(DeviceLog.site == cfg.site, DeviceLog.month == month)
            )
        )
        devices = list(session.scalars(select(Device).where(Device.site == cfg.site)))
        start, end = month_period(site, month)
        made = 0
        for vendor in [None, *sorted({d.vendor for d in devices})]:
            recipient = MANAGER if vendor is None else f"vendor:{vendor}"
            if recipient in have:
                continue
            title_en = f"Monthly device log {month}: {site.name_en}" + (f" ({vendor})" if vendor else "")
            title_zh = f"{month} 月度设备维护日志：{site.name_zh}" + (f"（{vendor}）" if vendor else "")
            report = group_report(
                session,
                [d for d in devices if vendor in (None, d.vendor)],
                start,
                end,
                now,
                title_en=title_en,
                title_zh=title_zh,
                levels={cfg.site: cfg.service_levels},
            )
            session.add(
                DeviceLog(
                    site=cfg.site,
                    month=month,
                    recipient=recipient,
                    vendor=vendor,
                    created_at=now,
                    csv=devices_csv(report.devices),
                    faults_csv=faults_csv(report.fault_log),
                    html=report_html(report),
                )
            )
            made += 1
        return made

    def _send(self, cfg: SiteConfig, month: str) -> bool:
        """Mail each log of ``month`` not sent yet; True when none is left to send."""
        with self.db.session() as session:
            rows = list(
                session.scalars(
                    select(DeviceLog).where(
                        DeviceLog.site == cfg.site, DeviceLog.month == month, DeviceLog.sent_at.is_(None)
                    )
                )
            )
        left = False
        for row in rows:
            channels = self._channels(cfg, row.vendor)
            if not channels:
                continue  # kept for download only
            try:
                for channel in channels:
                    send_mail(channel, self._message(row), self.timeout_s)
                sent_at, error = self.clock.now(), None
            except MailError as exc:
                log.warning("device log %s of %s not sent: %s", row.recipient, cfg.site, exc)
                sent_at, error, left = None, str(exc), True
            with self.db.session() as session:
                kept = session.get(DeviceLog, row.id)
                if kept is not None:
                    kept.sent_at, kept.error = sent_at, error
        return not left

    @staticmethod
    def _channels(cfg: SiteConfig, vendor: str | None) -> list[EmailChannel]:
        levels = cfg.service_levels
        if vendor is None:
            names = levels.manager_report_channels
        else:
            level = levels.of(vendor)
            names = level.report_channels if level is not None else []
        by_name = {c.name: c for c in cfg.notifications.channels if isinstance(c, EmailChannel)}
        missing = [n for n in names if n not in by_name]
        if missing:
            log.error("%s: service_levels names %s, not e-mail channels of the hall", cfg.site, missing)
        return [by_name[n] for n in names if n in by_name]

    @staticmethod
    def _message(row: DeviceLog) -> EmailMessage:
        msg = EmailMessage()
        who = f" ({row.vendor})" if row.vendor else ""
        msg["Subject"] = f"[LobbyWatch] {row.month} 月度设备维护日志 / Monthly device log: {row.site}{who}"
        msg.set_content(
            f"{row.site} {row.month} 月度设备维护日志见附件（CSV 与 HTML）。\n"
            f"The monthly device log of {row.site} for {row.month} is attached (CSV and HTML).\n"
        )
        msg.add_attachment(row.csv.encode(), maintype="text", subtype="csv", filename=file_name(row, "csv"))
        msg.add_attachment(
            row.faults_csv.encode(), maintype="text", subtype="csv", filename=file_name(row, "faults.csv")
        )
        msg.add_attachment(
            row.html.encode(), maintype="text", subtype="html", filename=file_name(row, "html")
        )
        return msg


def _min(seconds: float | None) -> str:
    return "" if seconds is None else f"{seconds / 60:.1f}"


def _met(value: bool | None) -> str:
    return {True: "达标 met", False: "超时 missed", None: ""}[value]


def _table(head: list[str], rows: list[list[str]]) -> str:
    cells = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{cells}</tr></thead><tbody>{body}</tbody></table>"


def report_html(report: GroupReport) -> str:
    """A readable page of a report, in zh-CN and en: totals, devices, and each fault against
    its vendor's targets."""
    totals = _table(
        [
            "可用率 Availability %",
            "故障 Faults",
            "平均修复 Mean repair (min)",
            "未闭环 Open",
            "响应超时 Response missed",
            "修复超时 Repair missed",
        ],
        [
            [
                "" if report.availability_pct is None else f"{report.availability_pct:.2f}",
                str(report.faults),
                _min(report.mean_time_to_repair_s),
                str(report.open_faults),
                str(report.respond_missed),
                str(report.repair_missed),
            ]
        ],
    )
    devices = _table(
        [
            "设备 Device",
            "代维 Vendor",
            "可用率 Availability %",
            "停机 Downtime (min)",
            "故障 Faults",
            "最长中断 Longest outage (min)",
        ],
        [
            [
                d.device,
                d.vendor,
                "" if d.availability_pct is None else f"{d.availability_pct:.2f}",
                _min(d.downtime_open_s),
                str(d.faults),
                _min(d.longest_outage_s),
            ]
            for d in report.devices
        ],
    )
    faults = _table(
        [
            "设备 Device",
            "故障码 Code",
            "发生 Raised (UTC)",
            "响应 Response (min)",
            "响应时限 Target (min)",
            "响应 Response",
            "修复 Repair (min)",
            "修复时限 Target (min)",
            "修复 Repair",
        ],
        [
            [
                f.device,
                f.code,
                f.raised_at.strftime("%Y-%m-%d %H:%M"),
                _min(f.respond_open_s),
                _min(f.respond_target_s),
                _met(f.respond_met),
                _min(f.repair_open_s),
                _min(f.repair_target_s),
                _met(f.repair_met),
            ]
            for f in report.fault_log
        ],
    )
    title = html.escape(f"{report.title_zh} / {report.title_en}")
    period = f"{report.period_start:%Y-%m-%d %H:%M} – {report.period_end:%Y-%m-%d %H:%M} UTC"
    style = "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #999;padding:4px 8px}"
    return (
        f'<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8"><title>{title}</title>'
        f"<style>{style}</style></head><body><h1>{title}</h1><p>{period}；时间按营业时间计 / "
        f"times in opening hours</p><h2>汇总 Totals</h2>{totals}<h2>设备 Devices</h2>{devices}"
        f"<h2>故障与时限 Faults against targets</h2>{faults}</body></html>"
    )
