"""What the server counts as arrivals: the one reading of an entrance zone's running total.

The edge decides what an arrival is (``ZoneState.arrivals_total``: people who came in through
the entrance, never those leaving through it; docs/vision.md, "Arrivals"). Cameras older than
that field send only ``entered_total``, every entry into the zone, leaving ones too: their
arrivals are over-counted (about 2x), which the server accepts rather than dropping them.
Rollups (the ``arrivals`` line, forecasts) and the surge rule read arrivals through here.
"""

from __future__ import annotations

from lobbywatch.protocol.messages import ZoneState


def arrivals_total(z: ZoneState) -> int:
    """Arrivals through entrance zone ``z`` since its source's epoch began (deltas are arrivals)."""
    return z.entered_total if z.arrivals_total is None else z.arrivals_total
