"""Tell the wait: the wait per business type goes down to the hall broker, retained, when it
changes (a real Mosquitto)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from lobbywatch.clock import FixedClock
from lobbywatch.protocol.sequence import Stamper
from lobbywatch.protocol.tickets import TicketEvent, WaitBoard
from lobbywatch.protocol.topics import wait_board_topic
from lobbywatch.services import Mosquitto
from server.core.config import IngestConfig
from server.hall_state import HallState
from server.live import LiveState
from server.wait_display import WaitDisplay
from tests.edge.devices.helpers_devices import recorder
from tests.server.alerts.helpers_hall import hall


def test_wait_board_is_published_retained_when_it_changes(
    mosquitto: Mosquitto, site_id: str, clock: FixedClock
) -> None:
    cfg = hall(
        site_id,
        broker={"host": mosquitto.host, "port": mosquitto.port, "keepalive_s": 5},
        notifications={"channels": [{"name": "hall", "type": "mqtt"}], "routes": [], "escalation": []},
    )
    configs = {site_id: cfg}
    state = HallState(clock, configs)
    live = LiveState(state, clock, IngestConfig())
    display = WaitDisplay(live, configs, clock)
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

    seen = recorder(mosquitto.port, wait_board_topic(site_id))
    try:
        batch(("issued", "A001", "new_subscription", {}), ("issued", "B001", "sim_replacement", {}))
        batch(("called", "A009", "other", {"counter": "c1"}))  # the board shows the same: not sent again
        batch(("issued", "A002", "new_subscription", {}))
        assert seen.wait_for(lambda ms: len(ms) == 2)
        boards = [m for _, m, _ in seen.pump()]
        assert all(isinstance(b, WaitBoard) for b in boards)
        assert [b.seq for b in boards] == [0, 1]
        later = recorder(mosquitto.port, wait_board_topic(site_id))  # subscribes after: the retained one
        assert later.wait_for(lambda ms: len(ms) == 1)
        topic, board, retained = later.pump()[0]
        assert (topic, retained, board) == (wait_board_topic(site_id), True, boards[1])
        assert isinstance(board, WaitBoard)
        waits = {w.business: (w.ahead, w.expected_wait_s) for w in board.waits}
        # c1 is serving A009, the one counter open: two new subscriptions of 8 min, one SIM of 3
        assert waits == {"new_subscription": (2, 960.0), "sim_replacement": (1, 180.0)}
        assert [w.name_zh_cn for w in board.waits] == ["新装入网", "补换卡"]
        for rec in (seen, later):
            rec.client.loop_stop()
            rec.client.disconnect()
    finally:
        display.stop()
