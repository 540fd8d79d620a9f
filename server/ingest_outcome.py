"""The answer to one ingest batch: a (status, message id, reason) per message, in batch order.

Built by :class:`server.ingest.IngestPipeline`; its wire form is
:class:`lobbywatch.protocol.ingest.IngestResult` (docs/server.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import orjson

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
