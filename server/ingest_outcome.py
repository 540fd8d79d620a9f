"""The answer to one ingest batch: a (status, message id, reason) per message, in batch order,
and what else :class:`server.ingest.IngestPipeline` tells its callers: the errors that make it
answer 503, its counters and per-stream sequence statistics.

The answer's wire form is :class:`lobbywatch.protocol.ingest.IngestResult` (docs/server.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import orjson


class Overloaded(RuntimeError):
    """The InfluxDB spool is over its limit, or the bus did not store the batch: answer 503
    so the gateway retries later."""


class Conflict(RuntimeError):
    """Another server process stored some of the batch at the same moment: resend."""


@dataclass
class StreamStats:
    highest: int
    received: int = 0
    gaps: int = 0
    missing: int = 0
    late: int = 0
    last_ts: datetime | None = None


@dataclass
class IngestCounters:
    batches: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    memory_conflicts: int = 0  # batches whose in-memory duplicate check SQL contradicted


Status = Literal["accepted", "duplicate", "rejected"]
Answer = tuple[Status, str | None, str | None]  # (status, message id, reason)


@dataclass(slots=True)
class IngestOutcome:
    """The answer to a batch: one (status, id, reason) per message, in batch order.

    :meth:`json` is the wire form, :class:`lobbywatch.protocol.ingest.IngestResult` (built
    here without a model per message: this is per-message work on the hot path).
    """

    results: list[Answer]
    accepted: int
    duplicates: int
    rejected: int

    def json(self) -> bytes:
        return orjson.dumps(
            {
                "results": [{"status": s, "id": i, "reason": r} for s, i, r in self.results],
                "accepted": self.accepted,
                "duplicates": self.duplicates,
                "rejected": self.rejected,
            }
        )
