"""Server-sent events of snapshots: one event at once, another after every change.

Both live streams (a site's live state, the open alerts) work the same way: a listener on
some in-process source signals "something changed" (from any thread), changes that come
while a snapshot is being sent are coalesced into one, and a comment line keeps idle
connections open through proxies.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

from fastapi.responses import StreamingResponse

#: Listen with a callback (called with a site id, from any thread); returns "stop listening".
Listen = Callable[[Callable[[str], None]], Callable[[], None]]


def snapshot_stream(
    listen: Listen,
    wanted: Callable[[str], bool],
    snapshot: Callable[[], Awaitable[str]],
    event: str,
    keepalive_s: float = 15.0,
) -> StreamingResponse:
    """Stream ``event`` events whose data is ``await snapshot()``, re-sent on each wanted change."""
    loop = asyncio.get_running_loop()
    changed: asyncio.Queue[bool] = asyncio.Queue(maxsize=1)

    def offer() -> None:
        if changed.empty():
            changed.put_nowait(True)

    def on_change(site: str) -> None:
        if wanted(site):
            with contextlib.suppress(RuntimeError):  # the loop is gone: the stream ended
                loop.call_soon_threadsafe(offer)

    remove = listen(on_change)

    async def events() -> AsyncIterator[str]:
        try:
            while True:
                yield f"event: {event}\ndata: {await snapshot()}\n\n"
                while True:
                    try:
                        await asyncio.wait_for(changed.get(), timeout=keepalive_s)
                        break
                    except TimeoutError:
                        yield ": keep-alive\n\n"
        finally:
            remove()

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
