"""The stateless half of ingest: parse, validate and format one gateway batch.

Everything here is a pure function of the request body, the halls' wait limits and the time
it was received: no SQL, no live state. That is why it can run in helper processes
(:mod:`server.ingest_workers`) while the server process keeps the stateful half
(:class:`server.ingest.IngestPipeline`: duplicates, SQL, live state, alerts). Parsing JSON,
validating each message and building its InfluxDB lines are about a third of a message's CPU.

Lines are built for every valid message, before anyone knows whether it is new; the
pipeline spools only those of the messages it accepts.

>>> from datetime import UTC
>>> body = b'{"gateway": "gw-1", "site": "hall-1", "sent_at": "2026-11-23T01:00:00Z",'
>>> body += b' "backlog": {"count": 1, "bytes": 300, "oldest_age_s": 0.5},'
>>> body += b' "messages": [{"v": 1, "type": "teleport", "id": "m1"}]}'
>>> prepared = prepare_body(body, {}, datetime(2026, 11, 23, 1, 0, tzinfo=UTC))
>>> prepared.size, prepared.candidates, prepared.rejected[0][:2]
(1, [], (0, 'm1'))
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import NamedTuple

import orjson
from pydantic import ValidationError

from lobbywatch.protocol.codec import ProtocolError, decode_obj, errors_from_validation
from lobbywatch.protocol.ingest import IngestBatch
from lobbywatch.protocol.messages import Envelope
from lobbywatch.protocol.timecheck import MAX_AGE_DAYS, clock_problem
from server.timeseries.lines import message_lines

DEFAULT_WAIT_LIMIT_S = 600.0
"""The wait limit of a hall the server has no configuration for (10 minutes)."""


class BadBatch(Exception):
    """The body is not a batch at all: answer ``status`` (400/422) with ``detail``."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(status, detail)
        self.status = status
        self.detail = detail


class Candidate(NamedTuple):
    """A valid message of the batch, with its InfluxDB lines (spooled only if accepted)."""

    position: int  # in the batch
    message: Envelope
    lines: list[str]


class Rejected(NamedTuple):
    """A message of the batch the server does not take, and why."""

    position: int  # in the batch
    message_id: str | None  # if readable
    reason: str
    source: str | None = None  # if the message decoded
    ts: datetime | None = None  # its own time, if it decoded


class PreparedBatch(NamedTuple):
    """A batch after the stateless half; ``header`` is the batch with its messages left out."""

    header: IngestBatch
    size: int
    rejected: list[Rejected]
    candidates: list[Candidate]


def parse_body(body: bytes) -> IngestBatch:
    """JSON bytes -> :class:`IngestBatch`; raises :class:`BadBatch` naming what is wrong."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadBatch(400, f"body is not JSON: {exc}") from None
    try:
        return IngestBatch.model_validate(data)
    except ValidationError as exc:
        errors = errors_from_validation(exc)
        raise BadBatch(422, "invalid batch: " + "; ".join(str(e) for e in errors[:10])) from None


def prepare(
    batch: IngestBatch, wait_limits: Mapping[str, float], now: datetime, max_age_days: float = MAX_AGE_DAYS
) -> PreparedBatch:
    """Validate each message of ``batch`` received at ``now`` and build the lines of the valid
    ones. A message whose time cannot be stored is rejected with reason ``clock`` (with its
    source and time: ingest records the source's clock problem)."""
    rejected: list[Rejected] = []
    candidates: list[Candidate] = []
    site = batch.site
    limit = wait_limits.get(site, DEFAULT_WAIT_LIMIT_S)
    for i, raw in enumerate(batch.messages):
        raw_id = raw.get("id")
        mid = raw_id if isinstance(raw_id, str) and len(raw_id) <= 64 else None
        try:
            msg = decode_obj(raw)
        except ProtocolError as exc:
            rejected.append(Rejected(i, mid, f"{exc.reason}: {exc}"))
            continue
        if msg.DIRECTION != "up":
            rejected.append(
                Rejected(i, mid, f"type: {msg.type} is a downlink message; gateways cannot submit it")
            )
            continue
        if msg.site != site:
            rejected.append(
                Rejected(i, mid, f"site: message is for site {msg.site!r}, the batch for {site!r}")
            )
            continue
        problem = clock_problem(msg.ts, now, max_age_days=max_age_days)
        if problem is not None:
            rejected.append(Rejected(i, mid, f"clock: {problem}", msg.source, msg.ts))
            continue
        candidates.append(Candidate(i, msg, message_lines(msg, wait_limit_s=limit)))
    header = batch.model_copy(update={"messages": []})
    return PreparedBatch(header, len(batch.messages), rejected, candidates)


def prepare_body(
    body: bytes, wait_limits: Mapping[str, float], now: datetime, max_age_days: float = MAX_AGE_DAYS
) -> PreparedBatch:
    """:func:`parse_body` then :func:`prepare` (what a helper process runs per batch)."""
    return prepare(parse_body(body), wait_limits, now, max_age_days)
