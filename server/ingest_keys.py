"""Which of a batch's messages SQL already holds: the duplicate lookups of ingest
(:class:`server.ingest.IngestPipeline`), by message id and by the unique key (site, source,
epoch, seq, will flag), in chunks a database takes in one statement.
"""

from __future__ import annotations

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from lobbywatch.protocol.messages import Envelope
from server.storage.models import ReceivedMessage

MessageKey = tuple[str, int, int, bool]  # (source, epoch, seq, is_will) within a site


def stored_keys(session: Session, site: str, messages: list[Envelope]) -> tuple[set[str], set[MessageKey]]:
    """(ids, keys) of ``messages`` already in ``received_messages`` (keys: every stored one
    in each (source, epoch)'s seq range of ``messages``)."""
    ids = [m.id for m in messages]
    existing_ids: set[str] = set()
    for start in range(0, len(ids), 900):
        chunk = ids[start : start + 900]
        existing_ids.update(session.scalars(select(ReceivedMessage.id).where(ReceivedMessage.id.in_(chunk))))
    ranges: dict[tuple[str, int], tuple[int, int]] = {}
    for m in messages:
        k = (m.source, m.epoch)
        lo, hi = ranges.get(k, (m.seq, m.seq))
        ranges[k] = (min(lo, m.seq), max(hi, m.seq))
    existing_keys: set[MessageKey] = set()
    items = list(ranges.items())
    r = ReceivedMessage
    for start in range(0, len(items), 100):
        conds = [
            and_(r.source == src, r.epoch == ep, r.seq >= lo, r.seq <= hi)
            for (src, ep), (lo, hi) in items[start : start + 100]
        ]
        if conds:
            rows = session.execute(
                select(r.source, r.epoch, r.seq, r.is_will).where(r.site == site, or_(*conds))
            ).all()
            existing_keys.update((row[0], row[1], row[2], row[3]) for row in rows)
    return existing_ids, existing_keys
