"""Callbacks that subscribe and unsubscribe from any thread: the one way the server's
publishers (the message bus, live state, the alert engine) keep their listeners.

>>> calls = Subscribers[Callable[[int], None]]()
>>> remove = calls.add(print)
>>> for callback in calls.snapshot():
...     callback(7)
7
>>> remove(); remove()  # removing twice is harmless
>>> calls.snapshot()
[]
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

F = TypeVar("F", bound=Callable[..., object])


class Subscribers(Generic[F]):
    """A list of callbacks; :meth:`snapshot` copies it, so callbacks run outside the lock."""

    def __init__(self) -> None:
        self._items: list[F] = []
        self._lock = threading.Lock()

    def add(self, callback: F) -> Callable[[], None]:
        """Register ``callback``; returns the function that removes it again."""
        with self._lock:
            self._items.append(callback)

        def remove() -> None:
            with self._lock:
                if callback in self._items:
                    self._items.remove(callback)

        return remove

    def snapshot(self) -> list[F]:
        with self._lock:
            return list(self._items)
