"""An asyncio event loop in a daemon thread, for the synchronous server to call the NATS client
(nats-py is asyncio) from any thread (docs/distributed.md, "The asyncio bridge")."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


class EventLoopThread:
    """An asyncio loop in a daemon thread; :meth:`run` calls a coroutine from any other thread."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        """Cancel what still runs on the loop (the client's subscription readers), let the
        cancellations finish, then end the thread and close the loop: a task left pending would
        be destroyed with the loop ("Task was destroyed but it is pending")."""
        if self._thread.is_alive():
            try:
                self.run(self._cancel_pending(), 5)
            except Exception:
                log.exception("cancelling the NATS loop's tasks failed")
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(5)
        if not self.loop.is_running():
            self.loop.close()

    @staticmethod
    async def _cancel_pending() -> None:
        me = asyncio.current_task()
        tasks = [t for t in asyncio.all_tasks() if t is not me]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
