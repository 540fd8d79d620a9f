"""Grafana's InfluxQL macro and template-variable substitution, as Grafana does it.

Used by the tests to run every panel query against a real InfluxDB, and by anyone who
wants to paste a dashboard query into the ``influx`` shell. Supported: ``$timeFilter``,
``$__interval``, ``$__interval_ms``, ``${__from}``, ``${__to}`` and template variables
(``$name`` / ``${name}``), which are interpolated in regex form (LobbyWatch writes every
variable as ``/^$name$/``): a multi-value variable's values are regex-escaped and several
become ``(a|b)``; a single-value variable's value and an "All" value (``.*``) go in as is.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

_VAR = re.compile(r"\$\{(\w+)\}|\$(\w+)")
_DURATION = re.compile(r"^(\d+)([smhdw])$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


class MacroError(ValueError):
    """A query uses a variable or macro the context does not define."""


@dataclass(frozen=True)
class QueryContext:
    """The time range, interval and variable values a panel query runs with."""

    start: datetime
    end: datetime
    interval_ms: int = 10_000
    variables: Mapping[str, Sequence[str]] = field(default_factory=dict)
    all_values: Mapping[str, str] = field(default_factory=dict)
    """Variables set to "All", with the allValue to use (e.g. ``{"zone": ".*"}``)."""
    unescaped: frozenset[str] = frozenset()
    """Single-value variables (neither multi nor All): Grafana inserts their value as is."""

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise ValueError(f"time range is empty: {self.start} .. {self.end}")
        if self.interval_ms <= 0:
            raise ValueError("interval_ms must be positive")


def duration_s(text: str) -> int:
    """``"7d"`` -> 604800. Raises ValueError for anything else than ``<n><s|m|h|d|w>``."""
    m = _DURATION.match(text)
    if m is None:
        raise ValueError(f"not a duration: {text!r} (use e.g. 30s, 15m, 6h, 7d)")
    return int(m.group(1)) * _UNIT_S[m.group(2)]


def interval_text(ms: int) -> str:
    """Grafana's ``$__interval`` text for a number of milliseconds (``10s``, ``2m``, ``500ms``)."""
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        if ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms}ms"


def _epoch_ms(t: datetime) -> int:
    return int(t.timestamp() * 1000)


def _regex_value(values: Sequence[str]) -> str:
    escaped = [re.escape(v) for v in values]
    return escaped[0] if len(escaped) == 1 else "(" + "|".join(escaped) + ")"


def render(query: str, ctx: QueryContext) -> str:
    """The query as Grafana sends it to InfluxDB for this context."""
    start, end = _epoch_ms(ctx.start), _epoch_ms(ctx.end)
    builtins = {
        "timeFilter": f"time >= {start}ms and time <= {end}ms",
        "__interval": interval_text(ctx.interval_ms),
        "__interval_ms": str(ctx.interval_ms),
        "__from": str(start),
        "__to": str(end),
    }

    def sub(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(2)
        if name in builtins:
            return builtins[name]
        if name in ctx.all_values:
            return ctx.all_values[name]
        if name in ctx.variables:
            values = ctx.variables[name]
            if not values:
                raise MacroError(f"variable ${name} has no value")
            if name in ctx.unescaped:
                return values[0]
            return _regex_value(values)
        raise MacroError(f"query uses ${name}, which is not defined: {query}")

    return _VAR.sub(sub, query)


def panel_range(
    now: datetime,
    dashboard_from: str,
    *,
    time_from: str | None = None,
    time_shift: str | None = None,
    day_start: datetime | None = None,
) -> tuple[datetime, datetime]:
    """The time range a panel queries: the dashboard's ``now-<d>``, or the panel's own.

    ``time_from`` is Grafana's panel "Relative time" (``24h``, or ``now/d`` for today so far,
    which needs ``day_start``, local midnight); ``time_shift`` moves the range back (``7d``).
    """
    end = now
    spec = time_from or dashboard_from.removeprefix("now-")
    if spec == "now/d":
        if day_start is None:
            raise ValueError("now/d needs the start of the local day")
        start = day_start
    else:
        start = now - timedelta(seconds=duration_s(spec))
    if time_shift:
        shift = timedelta(seconds=duration_s(time_shift))
        start, end = start - shift, end - shift
    return start, end
