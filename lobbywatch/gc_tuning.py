"""Garbage-collector settings for long-running daemons that allocate per message.

CPython's cyclic collector runs a young-generation pass every 700 net allocations and, now and
then, a full pass over every object in the process. A daemon's start-up leaves a few hundred
thousand objects behind (modules, pydantic schemas, SQL metadata) that live until exit, and
each full pass walks them all again. Measured in the central server under ingest load, the
collector took about 12 % of the server process's CPU (``docs/benchmarks.md``).

:func:`settle_heap` is called once a daemon has started: it freezes what start-up allocated
(the collector ignores it from then on) and collects young objects in larger steps. Memory
is unaffected for objects without reference cycles, which CPython frees at once anyway.
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 10_000
"""Net allocations between young-generation passes (CPython's default is 700)."""


def settle_heap() -> int:
    """Freeze everything allocated so far and raise the young threshold; returns objects frozen."""
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, older, oldest)
    return gc.get_freeze_count()
