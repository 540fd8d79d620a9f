"""How every LobbyWatch program logs: text or one JSON object per line, and repeated warnings
summarised per interval, so a flood of one kind of problem writes a few lines with counts.

:func:`setup_logging` is the one way a program configures it (``--log-format``,
``--log-level``); ``docs/deploy.md`` ("Logs") says what the fields are.

>>> import io, json
>>> out = io.StringIO()
>>> handler = logging.StreamHandler(out)
>>> handler.setFormatter(JsonFormatter("gateway"))
>>> log = logging.getLogger("lobbywatch.doctest")
>>> log.addHandler(handler); log.propagate = False
>>> log.warning("quarantined %d messages", 3, extra={"site": "hall-1"})
>>> record = json.loads(out.getvalue())
>>> record["message"], record["level"], record["component"], record["site"]
('quarantined 3 messages', 'warning', 'gateway', 'hall-1')
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Literal

LogFormat = Literal["text", "json"]

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
SUMMARY_INTERVAL_S = 60.0

#: Attributes every ``logging.LogRecord`` has; anything else came in ``extra=`` and is a field.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``ts`` (UTC), ``level``, ``component``, ``logger``,
    ``message``, the ``extra=`` fields (site, device, source, ...) and ``error`` with the
    traceback when there is one."""

    def __init__(self, component: str) -> None:
        super().__init__()
        self.component = component

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "component": self.component,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and key not in data:
                data[key] = value if isinstance(value, str | int | float | bool | None) else str(value)
        if record.exc_info:
            data["error"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False)


#: A kind of warning: the logger, the message's format string and the record's ``reason``.
_Kind = tuple[str, str, str | None]


class RepeatSummary(logging.Filter):
    """Lets the first warning (or worse) of a kind through in each interval and counts the
    rest; the next one let through after the interval carries ``repeated`` (how many were held
    back and over how long), and :meth:`flush` writes what is still held. A kind is the logger,
    the message's format string and the record's ``reason`` where it has one
    (``extra={"reason": ...}``), so "quarantined %s" with any argument is one kind per reason:
    the gateway's quarantine warnings (``gateway/intake.py``) say each reason at once."""

    def __init__(
        self, interval_s: float = SUMMARY_INTERVAL_S, now: Callable[[], float] = time.monotonic
    ) -> None:
        super().__init__()
        self.interval_s = interval_s
        self._now = now
        self._lock = threading.Lock()
        self._kinds: dict[_Kind, tuple[float, int]] = {}  # kind -> (interval start, held)

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING or hasattr(record, "held_back"):
            return True  # a line of :meth:`flush` is a count already
        reason = getattr(record, "reason", None)
        kind = (record.name, str(record.msg), None if reason is None else str(reason))
        now = self._now()
        with self._lock:
            start, held = self._kinds.get(kind, (now - self.interval_s, 0))
            if now - start < self.interval_s:
                self._kinds[kind] = (start, held + 1)
                return False
            self._kinds[kind] = (now, 0)
        if held:
            record.repeated = held
            record.msg = f"{record.msg} (and {held} more like it in the last {now - start:.0f} s)"
        return True

    def warn(self, log: logging.Logger, msg: str, *args: object, reason: str | None = None) -> None:
        """Warn on ``log`` through this summary, whatever the program's logging does: for a
        component that must keep its own flood in check (the gateway's quarantine warnings,
        ``gateway/intake.py``). ``reason`` goes into the record and its kind."""
        if not log.isEnabledFor(logging.WARNING):
            return
        extra = None if reason is None else {"reason": reason}
        record = log.makeRecord(log.name, logging.WARNING, "(summary)", 0, msg, args, None, extra=extra)
        if self.filter(record):
            log.handle(record)

    def flush(self, log: logging.Logger) -> None:
        """Write one line for each kind with warnings still held back (at shutdown)."""
        with self._lock:
            pending = [(kind, held) for kind, (_start, held) in self._kinds.items() if held]
            self._kinds.clear()
        for (name, msg, reason), held in pending:
            if reason is None:
                log.warning(
                    "%d more warnings like %r from %s were held back",
                    held,
                    msg,
                    name,
                    extra={"held_back": held},
                )
            else:
                log.warning(
                    "%d more warnings like %r (%s) from %s were held back",
                    held,
                    msg,
                    reason,
                    name,
                    extra={"held_back": held, "reason": reason},
                )


def setup_logging(
    component: str, log_format: LogFormat = "text", level: str | int = logging.INFO
) -> RepeatSummary:
    """Configure the root logger of a program: ``text`` or ``json`` lines on stderr, at
    ``level``, repeated warnings summarised. Returns the summariser (flush it at shutdown).

    Like :func:`logging.basicConfig`, it leaves a root logger that something else already
    configured (a test runner capturing logs) alone, and replaces only its own handler when
    called again."""
    summary = RepeatSummary()
    root = logging.getLogger()
    if any(not getattr(h, "lobbywatch", False) for h in root.handlers):
        return summary
    handler = logging.StreamHandler(sys.stderr)
    handler.lobbywatch = True  # type: ignore[attr-defined]
    handler.setFormatter(JsonFormatter(component) if log_format == "json" else logging.Formatter(TEXT_FORMAT))
    handler.addFilter(summary)
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper() if isinstance(level, str) else level)
    return summary
