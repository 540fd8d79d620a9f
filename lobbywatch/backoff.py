"""Exponential backoff, the one retry schedule every component uses.

The n-th delay is ``d = min(max_s, initial_s * 2**n)``; with an ``rng`` it is drawn from
``[d/2, d]`` (jitter, so that many halls or kiosks reconnecting after an outage do not retry
in step). :meth:`reset` after a success starts again from ``initial_s``.

>>> b = Backoff(0.5, 4.0)
>>> [b.next_delay() for _ in range(5)]
[0.5, 1.0, 2.0, 4.0, 4.0]
>>> b.reset(); b.next_delay()
0.5
"""

from __future__ import annotations

import random


class Backoff:
    def __init__(self, initial_s: float, max_s: float, rng: random.Random | None = None) -> None:
        if initial_s <= 0 or max_s < initial_s:
            raise ValueError("backoff needs 0 < initial_s <= max_s")
        self.initial_s = initial_s
        self.max_s = max_s
        self.rng = rng
        self.attempt = 0

    def next_delay(self) -> float:
        ceiling = min(self.max_s, self.initial_s * (2.0 ** min(self.attempt, 62)))
        self.attempt += 1
        return ceiling if self.rng is None else self.rng.uniform(ceiling / 2, ceiling)

    def reset(self) -> None:
        self.attempt = 0
