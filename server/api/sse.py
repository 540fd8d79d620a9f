"""Server-sent events of snapshots: one event at once, another after every change.

Both live streams (a site's live state, the open alerts) work the same way: a listener on
some in-process source signals "something changed" (from any thread), changes that come
while a snapshot is being sent are coalesced into one, and a comment line keeps idle
connections open through proxies. Every keep-alive interval (on the server's clock, busy or
idle) the stream asks whether its token is still live and ends when it was revoked or has
expired: the client's reconnection then gets the 401 that says why.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

from fastapi.responses import StreamingResponse

from lobbywatch.clock import Clock

#: Listen with a callback (called with a site id, from any thread); returns "stop listening".
Listen = Callable[[Callable[[str], None]], Callable[[], None]]


def snapshot_stream(
    listen: Listen,
    wanted: Callable[[str], bool],
    snapshot: Callable[[], Awaitable[str]],
    event: str,
    *,
    token_alive: Callable[[], Awaitable[bool]],
    clock: Clock,
    keepalive_s: float = 15.0,
) -> StreamingResponse:
    """Stream ``event`` events whose data is ``await snapshot()``, re-sent on each wanted change,
    until ``await token_alive()`` (asked every ``keepalive_s`` of ``clock``) says no."""
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
        next_check = clock.monotonic() + keepalive_s
        try:
            while True:
                yield f"event: {event}\ndata: {await snapshot()}\n\n"
                while True:
                    try:
                        await asyncio.wait_for(changed.get(), timeout=keepalive_s)
                        woke_by_change = True
                    except TimeoutError:
                        woke_by_change = False
                    if clock.monotonic() >= next_check:
                        if not await token_alive():
                            return
                        next_check = clock.monotonic() + keepalive_s
                    if woke_by_change:
                        break
                    yield ": keep-alive\n\n"
        finally:
            remove()

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
