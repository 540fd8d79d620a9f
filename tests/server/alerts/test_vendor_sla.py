"""Vendor service levels: response and repair targets counted in opening hours, a warning
at the configured point and an alert at breach, to the vendor and the manager."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from lobbywatch.clock import FixedClock
from lobbywatch.config.site import SiteConfig
from server.alerts.engine import AlertEngine
from server.alerts.model import AlertUpdate, UpdateEvent
from server.alerts.rules.vendor_sla import OpenFault
from server.alerts.store import MemoryAlertStore
from server.alerts.templates import render

from .helpers_hall import RecordingNotifier, hall_dict

WEEKDAYS = ["mon", "tue", "wed", "thu", "fri"]
RAISED = "2026-11-23T09:30:00Z"  # Monday 17:30 in Shanghai; the hall closes at 18:00


@dataclass
class Faults:
    """The open faults a hall's device history would hold (the engine's FaultProvider)."""

    open: list[OpenFault] = field(default_factory=list)

    def open_faults(self, site: str) -> Sequence[OpenFault]:
        return list(self.open)


def _hall(site: str, **level: Any) -> SiteConfig:
    return SiteConfig.model_validate(
        hall_dict(
            site,
            opening_hours=[{"days": WEEKDAYS, "open": "09:00", "close": "18:00"}],
            service_levels={"vendors": [{"vendor": "v-one", **level}]},
        )
    )


def _engine(cfg: SiteConfig, clock: FixedClock, faults: Faults) -> tuple[AlertEngine, list[AlertUpdate]]:
    engine = AlertEngine(
        [cfg], clock=clock, store=MemoryAlertStore(), notifier=RecordingNotifier(), faults=faults
    )
    updates: list[AlertUpdate] = []
    engine.add_listener(updates.append)
    return engine, updates


def _at(iso: str) -> datetime:
    return datetime.fromisoformat(iso.replace("Z", "+00:00"))


def _run_until(engine: AlertEngine, clock: FixedClock, iso: str, step_s: float = 600) -> None:
    """Tick every ``step_s`` up to ``iso``, and at ``iso`` itself."""
    end = _at(iso)
    while clock.now() < end:
        clock.advance(min(step_s, (end - clock.now()).total_seconds()))
        engine.tick()


def _kinds(updates: list[AlertUpdate], event: UpdateEvent = UpdateEvent.FIRED) -> list[str]:
    return [u.alert.kind for u in updates if u.event == event]


def test_repair_target_warns_and_breaches_on_opening_hours_not_overnight(site_id: str) -> None:
    clock = FixedClock.at(RAISED)
    faults = Faults([OpenFault(7, "k1", "v-one", "PRN_JAM", clock.now())])
    engine, updates = _engine(_hall(site_id, repair_min=240, warn_pct=75), clock, faults)
    engine.tick()
    # 17:30 -> closing at 18:00 is 30 min of opening time; the night does not count
    _run_until(engine, clock, "2026-11-24T00:59:00Z")  # Tuesday 08:59 local, 15.5 h later
    assert _kinds(updates) == []
    # 75 % of 4 h = 3 h: 30 min on Monday + 2 h 30 on Tuesday -> Tuesday 11:30 local
    _run_until(engine, clock, "2026-11-24T03:29:00Z", step_s=60)
    assert _kinds(updates) == []
    _run_until(engine, clock, "2026-11-24T03:30:00Z")
    assert _kinds(updates) == ["vendor_sla_warning"]
    warning = updates[-1]
    assert warning.at == _at("2026-11-24T03:30:00Z")
    assert {"vendor-one", "managers"} <= set(warning.channels)  # the vendor and the manager
    assert (warning.alert.vendor, warning.alert.device) == ("v-one", "k1")
    assert warning.alert.params["due"] == "11-24 12:30"
    title_en, body_en = render(warning.alert, "en")
    assert title_en == "Vendor repair target at risk: k1"
    assert "75 % of its 240-min repair target; it is missed at 11-24 12:30" in body_en
    title_zh, _ = render(warning.alert, "zh-CN")
    assert title_zh == "修复即将超时：k1"
    # the target itself: Tuesday 12:30 local
    _run_until(engine, clock, "2026-11-24T04:29:00Z", step_s=60)
    assert _kinds(updates) == ["vendor_sla_warning"]
    _run_until(engine, clock, "2026-11-24T04:30:00Z")
    assert _kinds(updates) == ["vendor_sla_warning", "vendor_sla_missed"]
    missed = updates[-1]
    assert {"vendor-one", "managers"} <= set(missed.channels)
    assert render(missed.alert, "en")[0] == "Vendor repair target missed: k1"
    assert render(missed.alert, "zh-CN")[0] == "修复超时：k1"
    # hours later: nothing more, then the repair resolves both
    _run_until(engine, clock, "2026-11-24T08:00:00Z")
    assert len(_kinds(updates)) == 2
    faults.open.clear()
    clock.advance(10)  # the open faults are read every 10 s
    engine.tick()
    assert sorted(_kinds(updates, UpdateEvent.RESOLVED)) == ["vendor_sla_missed", "vendor_sla_warning"]
    assert engine.open_alerts(site_id) == []


def test_response_target_is_met_by_the_first_acknowledgement(site_id: str) -> None:
    clock = FixedClock.at("2026-11-24T01:00:00Z")  # Tuesday 09:00 local
    fault = OpenFault(8, "k2", "v-one", "CARD_JAM", clock.now())
    faults = Faults([fault])
    engine, updates = _engine(_hall(site_id, respond_min=30, warn_pct=50), clock, faults)
    _run_until(engine, clock, "2026-11-24T01:15:00Z", step_s=60)
    assert _kinds(updates) == ["vendor_sla_warning"]
    assert updates[-1].alert.params["what"] == "sla_respond"
    assert render(updates[-1].alert, "en")[0] == "Vendor response target at risk: k2"
    # acknowledged at 09:20: met; the warning resolves and no breach follows
    clock.advance(300)
    faults.open = [OpenFault(8, "k2", "v-one", "CARD_JAM", fault.raised_at, clock.now())]
    engine.tick()
    assert _kinds(updates, UpdateEvent.RESOLVED) == ["vendor_sla_warning"]
    _run_until(engine, clock, "2026-11-24T03:00:00Z")
    assert _kinds(updates) == ["vendor_sla_warning"]


def test_vendors_without_targets_and_halls_without_levels_get_nothing(site_id: str) -> None:
    clock = FixedClock.at("2026-11-24T01:00:00Z")
    faults = Faults([OpenFault(9, "k3", "v-two", "SIM_EMPTY", clock.now())])
    engine, updates = _engine(_hall(site_id, repair_min=10), clock, faults)
    _run_until(engine, clock, "2026-11-24T05:00:00Z")
    assert _kinds(updates) == []
