"""Garbage-collector settings for long-running daemons that allocate per message:
:func:`settle_heap`, called once a daemon has started, freezes the start-up heap (which the
cyclic collector then no longer walks) and collects young objects in larger steps.

Why and what it saved: ``docs/server.md``, "Garbage collector", and ``docs/benchmarks.md``.
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
