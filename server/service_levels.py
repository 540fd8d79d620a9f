"""How a fault stands against one of its vendor's targets: the opening time it has used
(raised -> done, or -> now while not done) and whether the target is met, missed or still
open. The one definition, read by the vendor service-level rule
(:mod:`server.alerts.rules.vendor_sla`) and the reports (:func:`server.reports.against_targets`);
docs/alerts.md, "Vendor service levels".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from server.opening_hours import Periods, open_seconds


@dataclass(frozen=True, slots=True)
class TargetUse:
    used_s: float
    """Opening time from raised to done (or to now, while not done), seconds."""
    met: bool | None
    """True: done within the target; False: done late, or open past it; None: open within it."""


def target_use(
    timezone: str, periods: Periods, raised: datetime, done: datetime | None, now: datetime, target_s: float
) -> TargetUse:
    """Where a fault raised at ``raised`` (and done at ``done``, if it is) stands at ``now``."""
    used = open_seconds(timezone, periods, raised, done or now)
    if done is not None:
        return TargetUse(used, used <= target_s)
    return TargetUse(used, False if used >= target_s else None)
