"""Tell the wait: the wait per business type goes into the hall's downlink when it changes (the
gateway publishes it retained on the hall broker: tests/gateway/test_downlink.py)."""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Any

from lobbywatch.clock import FixedClock
from lobbywatch.config.site import SiteConfig
from lobbywatch.protocol.envelope import Envelope
from lobbywatch.protocol.sequence import Stamper
from lobbywatch.protocol.tickets import TicketEvent, WaitBoard
from lobbywatch.protocol.topics import topic_for, wait_board_topic
from server.core.config import IngestConfig
from server.hall_state import HallState
from server.live import LiveState
from server.wait_display import WaitDisplay
from tests.server.alerts.helpers_hall import hall


def test_wait_board_goes_down_when_it_changes(site_id: str, clock: FixedClock) -> None:
    cfg = hall(
        site_id,
        notifications={"channels": [{"name": "hall", "type": "mqtt"}], "routes": [], "escalation": []},
    )
    configs = {site_id: cfg}
    state = HallState(clock, configs)
    live = LiveState(state, clock, IngestConfig())
    sent: list[tuple[str, Envelope]] = []
    done = threading.Event()

    def publish(site: SiteConfig, message: Envelope) -> None:
        sent.append((site.site, message))
        if len(sent) == 2:
            done.set()

    display = WaitDisplay(live, configs, clock, (publish, lambda: None))
    display.start()
    qms = Stamper(site_id, "qms", clock=clock)
    issued: datetime = clock.now()

    def batch(*events: tuple[str, str, str, dict[str, Any]]) -> None:
        msgs = [
            qms.make(TicketEvent, event=e, ticket=t, business=b, issued_at=issued, **kw)
            for e, t, b, kw in events
        ]
        for m in msgs:
            state.apply(m)
        live.notify(site_id)  # as ingest does after each commit

    try:
        batch(("issued", "A001", "new_subscription", {}), ("issued", "B001", "sim_replacement", {}))
        batch(("called", "A009", "other", {"counter": "c1"}))  # the board shows the same: not sent again
        batch(("issued", "A002", "new_subscription", {}))
        assert done.wait(10)
        boards = [m for _, m in sent]
        assert all(isinstance(b, WaitBoard) for b in boards)
        assert {s for s, _ in sent} == {site_id}
        assert [b.seq for b in boards] == [0, 1]
        board = boards[1]
        assert (topic_for(board), board.RETAINED) == (wait_board_topic(site_id), True)  # retained there
        assert isinstance(board, WaitBoard)
        waits = {w.business: (w.ahead, w.expected_wait_s) for w in board.waits}
        # c1 is serving A009, the one counter open: two new subscriptions of 8 min, one SIM of 3
        assert waits == {"new_subscription": (2, 960.0), "sim_replacement": (1, 180.0)}
        assert [w.name_zh_cn for w in board.waits] == ["新装入网", "补换卡"]
    finally:
        display.stop()
