"""The notification outbox: kept before the first attempt, marked when a channel took it or
every attempt failed, resumed by the next dispatcher; an update survives its JSON form."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

import sqlalchemy as sa

from lobbywatch.clock import FixedClock
from lobbywatch.config.notify import Channel
from lobbywatch.config.site import SiteConfig
from server.alerts.channels import ChannelError
from server.alerts.dispatch import Dispatcher
from server.alerts.model import AlertUpdate
from server.alerts.outbox import MemoryOutbox, SqlOutbox, update_from_json, update_json

from .helpers_hall import Hall, hooked_hall_dict


class Channel503:
    """A sender whose channel refuses ``refuse`` attempts, then takes every message."""

    def __init__(self, refuse: int) -> None:
        self.refuse = refuse
        self.sent: list[tuple[str, ...]] = []
        self.tried = threading.Event()

    def send(
        self, channel: Channel, site: SiteConfig, updates: Sequence[AlertUpdate], timeout_s: float
    ) -> None:
        self.tried.set()
        if self.refuse > 0:
            self.refuse -= 1
            raise ChannelError("HTTP 503")
        self.sent.append(tuple(u.alert.id for u in updates))


def _fired(site_id: str, clock: FixedClock) -> tuple[SiteConfig, list[AlertUpdate]]:
    h = Hall(SiteConfig.model_validate(hooked_hall_dict(site_id, "http://127.0.0.1:9/hook")), clock)
    fired = h.device_event("k1", event="fault_raised", code="E1", detail="纸尽")
    return h.cfg, fired


def test_an_update_comes_back_from_its_kept_form(site_id: str, clock: FixedClock) -> None:
    _, [update] = _fired(site_id, clock)
    assert update_from_json(update_json(update)) == update


def test_pending_until_taken_resumed_by_the_next_dispatcher(site_id: str, clock: FixedClock) -> None:
    cfg, fired = _fired(site_id, clock)
    outbox = MemoryOutbox()
    down = Channel503(refuse=10**6)
    first = Dispatcher(clock=clock, senders={"webhook": down}, outbox=outbox, backoff_s=30)
    first.submit(cfg, fired)
    assert down.tried.wait(5)
    first.close()  # stopped while waiting to retry: still pending
    [kept] = outbox.pending()
    assert kept.channel == "hook"
    up = Channel503(refuse=0)
    second = Dispatcher(clock=clock, senders={"webhook": up}, outbox=outbox)
    assert second.resume({cfg.site: cfg}) == 1
    assert second.wait_idle()
    assert up.sent == [(fired[0].alert.id,)]
    assert outbox.pending() == []
    assert second.resume({cfg.site: cfg}) == 0  # sent: never again
    second.close()
    assert list(outbox.queued) == [kept.id]
    clock.advance(31 * 86400)
    Dispatcher(clock=clock, senders={"webhook": up}, outbox=outbox).resume({cfg.site: cfg})
    assert outbox.queued == {}  # sent a month ago: forgotten


def test_given_up_after_every_attempt_and_not_resumed(
    site_id: str, clock: FixedClock, tmp_path: Path
) -> None:
    cfg, fired = _fired(site_id, clock)
    outbox = SqlOutbox(sa.create_engine(f"sqlite:///{tmp_path / 'o.sqlite3'}"))
    down = Channel503(refuse=10**6)
    dispatcher = Dispatcher(clock=clock, senders={"webhook": down}, outbox=outbox, attempts=2, backoff_s=0.01)
    dispatcher.submit(cfg, fired)
    assert dispatcher.wait_idle()
    dispatcher.close()
    assert outbox.pending() == []
    assert Dispatcher(clock=clock, senders={"webhook": down}, outbox=outbox).resume({cfg.site: cfg}) == 0
    other = SiteConfig.model_validate(hooked_hall_dict("elsewhere", "http://127.0.0.1:9/x"))
    kept = outbox.queue(cfg.site, "hook", fired, clock.now())
    assert [q.id for q in outbox.pending()] == [kept]
    assert Dispatcher(clock=clock, senders={"webhook": down}, outbox=outbox).resume({"elsewhere": other}) == 0
    assert outbox.pending() == []  # its hall is gone: given up
    assert outbox.prune(clock.now()) == 0
    clock.advance(1)
    assert outbox.prune(clock.now()) == 2
