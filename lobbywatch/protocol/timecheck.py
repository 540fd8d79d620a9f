"""Clock sanity: whether a message's time is one the system can store.

One rule for the gateway (which quarantines with reason ``clock``) and the server (which
rejects the message, never its batch): at most :data:`MAX_AHEAD_S` ahead of the receiver's
clock and at most :data:`MAX_AGE_DAYS` old (the server forgets received ids after that, and
InfluxDB cannot store years past 2262). docs/protocol.md ("Time") says what devices must do.

>>> from datetime import UTC, datetime
>>> now = datetime(2026, 11, 23, 1, 30, tzinfo=UTC)
>>> clock_problem(datetime(9999, 1, 1, tzinfo=UTC), now)
'ts 9999-01-01T00:00:00+00:00 is 2911751.9 days ahead of the receiver (limit 300 s): device clock wrong?'
>>> clock_problem(now, now) is None
True
"""

from __future__ import annotations

from datetime import datetime

MAX_AHEAD_S = 300.0
"""A message may be this far ahead of the receiver's clock (clocks drift; NTP may lag)."""
MAX_AGE_DAYS = 14.0
"""A message older than this is not stored (the server's default idempotency window)."""


def clock_problem(
    ts: datetime, now: datetime, *, max_ahead_s: float = MAX_AHEAD_S, max_age_days: float = MAX_AGE_DAYS
) -> str | None:
    """Why ``ts`` cannot be stored when received at ``now``, or None when it can."""
    ahead = (ts - now).total_seconds()
    if ahead > max_ahead_s:
        amount = f"{ahead / 86400:.1f} days" if ahead >= 86400 else f"{ahead:.0f} s"
        return (
            f"ts {ts.isoformat()} is {amount} ahead of the receiver (limit {max_ahead_s:g} s): "
            "device clock wrong?"
        )
    if (now - ts).total_seconds() > max_age_days * 86400:
        return (
            f"ts {ts.isoformat()} is {(now - ts).days} days old (limit {max_age_days:g}): "
            "device clock wrong, or a backlog too old to store"
        )
    return None
