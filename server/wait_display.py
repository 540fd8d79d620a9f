"""Tell the wait in the hall: the wait per business type, published retained for in-hall displays.

After each committed ingest batch (a :meth:`server.live.LiveState.listen` listener),
:class:`WaitDisplay` reads the wait per business type from the live state
(:meth:`server.live.LiveState.business_waits`, owned by the hall state; empty for a hall
without tickets) and, when what a display shows changed (tickets ahead, or the expected wait
in whole minutes), hands a :class:`lobbywatch.protocol.tickets.WaitBoard` to :data:`Publish`
from its own thread. The transport is :func:`hall_downlink`: the hall's downlink queue, which
the hall's gateway fetches and publishes on its broker, as for the alert engine's hall
displays (halls with an ``mqtt`` notification channel only). docs/server.md ("Queue tickets
and counter states").
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Mapping

from lobbywatch.clock import Clock
from lobbywatch.config.site import SiteConfig
from lobbywatch.protocol.envelope import Envelope
from lobbywatch.protocol.sequence import Stamper
from lobbywatch.protocol.tickets import BusinessWaitEntry, WaitBoard
from server.alerts.channels import HallQueue
from server.live import LiveState

log = logging.getLogger(__name__)

Publish = Callable[[SiteConfig, Envelope], None]
SOURCE = "server-waits"


def hall_downlink(queue: HallQueue) -> tuple[Publish, Callable[[], None]]:
    """The transport to a hall's displays: the hall's downlink queue, which its gateway
    publishes on the hall broker (:mod:`server.downlink`), and its closer (nothing to close)."""

    def send(site: SiteConfig, message: Envelope) -> None:
        queue.put(site.site, [message])

    return send, lambda: None


def wants_display(cfg: SiteConfig) -> bool:
    """Whether the hall has displays on its broker (an ``mqtt`` notification channel)."""
    return any(ch.type == "mqtt" for ch in cfg.notifications.channels)


class WaitDisplay:
    """Publishes each hall's wait board when it changes (see the module docstring)."""

    def __init__(
        self,
        live: LiveState,
        configs: Mapping[str, SiteConfig],
        clock: Clock,
        downlink: tuple[Publish, Callable[[], None]],
    ) -> None:
        """``downlink``: (publish, close), e.g. :func:`hall_downlink` of the server's queue."""
        self._live, self._configs, self._clock = live, configs, clock
        self._publish, self._close = downlink
        self._shown: dict[str, tuple[tuple[str, int, int], ...]] = {}
        self._stampers: dict[str, Stamper] = {}
        self._queue: queue.Queue[tuple[SiteConfig, Envelope] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="wait-display", daemon=True)
        self._stopped = False
        self._unlisten: Callable[[], None] = lambda: None

    def board(self, site: str) -> WaitBoard | None:
        """The hall's wait board now, when it differs from the one last shown."""
        waits = self._live.business_waits(site)
        shown = tuple((w.business, w.ahead, round(w.expected_wait_s / 60)) for w in waits)
        if not waits or self._shown.get(site) == shown:
            return None
        self._shown[site] = shown
        stamper = self._stampers.get(site)
        if stamper is None:
            epoch = int(self._clock.now().timestamp())
            stamper = self._stampers[site] = Stamper(site, SOURCE, clock=self._clock, epoch=epoch)
        entries = [
            BusinessWaitEntry.model_validate(
                {
                    "business": w.business,
                    "name_en": w.name["en"],
                    "name_zh-CN": w.name["zh-CN"],
                    "ahead": w.ahead,
                    "expected_wait_s": w.expected_wait_s,
                }
            )
            for w in waits
        ]
        return stamper.make(WaitBoard, waits=entries)

    def changed(self, site: str) -> None:
        """Live-state listener (after each commit, under ingest's lock): queue the hall's new
        wait board, if it changed."""
        cfg = self._configs.get(site)
        if self._stopped or cfg is None or not wants_display(cfg):
            return
        board = self.board(site)
        if board is not None:
            self._queue.put((cfg, board))

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            try:
                self._publish(*item)
            except Exception:  # a hall broker away must not stop the others; the next batch retries
                self._shown.pop(item[0].site, None)
                log.exception("could not publish the wait board of %s", item[0].site)

    def start(self) -> None:
        """Start publishing and listen to the live state."""
        self._thread.start()
        self._unlisten = self._live.listen(self.changed)

    def stop(self) -> None:
        self._stopped = True
        self._unlisten()
        self._queue.put(None)
        self._thread.join(timeout=10)
        self._close()
