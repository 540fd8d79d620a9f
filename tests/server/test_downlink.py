"""The downlink queue (server/downlink.py) and its routes: numbering, acknowledgement, bound,
expiry, the long poll, who may poll and who may put a device out of service."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import httpx

from lobbywatch.clock import FixedClock
from lobbywatch.protocol.codec import decode_obj
from lobbywatch.protocol.messages import DeviceCommand, Envelope
from lobbywatch.protocol.sequence import Stamper
from lobbywatch.services import wait_until
from server.downlink import DownlinkQueue

from .conftest import Server

KIOSK = "kiosk-topup-1"


def _pings(site: str, clock: FixedClock, n: int) -> list[Envelope]:
    stamper = Stamper(site, "test", clock=clock)
    return [stamper.make(DeviceCommand, device=KIOSK, command="ping") for _ in range(n)]


def test_items_are_numbered_kept_until_acknowledged_and_numbering_survives_a_restart(
    server: Server,
) -> None:
    q = server.ctx.downlink
    assert q.put(server.site, _pings(server.site, server.clock, 3)) == [1, 2, 3]
    assert q.put(server.other_site, _pings(server.other_site, server.clock, 1)) == [1]  # per hall
    assert [i.seq for i in q.after(server.site, 0).items] == [1, 2, 3]
    assert [i.seq for i in q.after(server.site, 2).items] == [3]
    assert q.after(server.site, 0).head == 3
    assert q.ack(server.site, 2).removed == 2
    assert q.pending(server.site) == 1
    again = DownlinkQueue(server.ctx.db, server.clock)  # a new process on the same database
    assert again.put(server.site, _pings(server.site, server.clock, 1)) == [4]
    assert [i.seq for i in again.after(server.site, 0).items] == [3, 4]
    head = again.head(server.site)
    assert head is not None
    assert (head.last_seq, head.acked_seq, head.dropped) == (4, 2, 0)


def test_unacknowledged_items_are_bounded_and_expire(server: Server) -> None:
    q = DownlinkQueue(server.ctx.db, server.clock, max_pending=3, keep=timedelta(hours=1))
    q.put(server.site, _pings(server.site, server.clock, 5))
    assert [i.seq for i in q.after(server.site, 0).items] == [3, 4, 5]  # the oldest dropped
    server.clock.advance(3599)
    q.put(server.site, _pings(server.site, server.clock, 1))
    server.clock.advance(2)
    assert [i.seq for i in q.after(server.site, 0).items] == [6]  # a day-old command is not sent
    head = q.head(server.site)
    assert head is not None
    assert head.dropped == 5


def test_only_the_halls_own_gateway_polls_and_acknowledges(server: Server) -> None:
    server.ctx.downlink.put(server.site, _pings(server.site, server.clock, 2))
    path = f"/api/v1/gateways/{server.site}/downlink"
    r = server.get(path, "gateway", after=0, wait=0)
    assert r.status_code == 200, r.text
    body = r.json()
    assert [i["seq"] for i in body["items"]] == [1, 2]
    assert isinstance(decode_obj(body["items"][0]["message"]), DeviceCommand)
    assert server.get(path, "gateway_other", after=0, wait=0).status_code == 403
    for role in ("admin", "manager", "display"):
        assert server.get(path, role, after=0, wait=0).status_code == 403
    assert server.post(path + "/ack", "gateway_other", {"seq": 2}).status_code == 403
    r = server.post(path + "/ack", "gateway", {"seq": 1})
    assert r.json() == {"acked": 1, "removed": 1}
    assert [i["seq"] for i in server.get(path, "gateway", after=0, wait=0).json()["items"]] == [2]
    r = server.post(path + "/ack", "gateway", {"seq": 3})  # never given out: nothing is removed
    assert r.status_code == 409, r.text
    assert server.ctx.downlink.pending(server.site) == 1
    assert server.get(path, "gateway", after=0, wait=61).status_code == 422


def test_a_waiting_poll_answers_as_soon_as_an_item_is_queued(server: Server) -> None:
    path = f"/api/v1/gateways/{server.site}/downlink"
    answers: list[httpx.Response] = []
    poll = threading.Thread(target=lambda: answers.append(server.get(path, "gateway", after=0, wait=30)))
    started = time.monotonic()
    poll.start()
    assert wait_until(lambda: server.ctx.downlink.waiters(server.site) == 1, 10)
    server.ctx.downlink.put(server.site, _pings(server.site, server.clock, 1))
    poll.join(10)
    assert time.monotonic() - started < 10
    assert [i["seq"] for i in answers[0].json()["items"]] == [1]


def test_out_of_service_from_the_api_queues_a_device_command(server: Server) -> None:
    path = f"/api/v1/sites/{server.site}/devices/{KIOSK}/out-of-service"
    r = server.post(path, "manager", {"out_of_service": True, "detail": "screen cracked"})
    assert r.status_code == 202, r.text
    assert r.json() == {"seq": 1, "command": "out_of_service_on"}
    assert server.post(path, "admin", {"out_of_service": False}).json()["command"] == "out_of_service_off"
    items = server.ctx.downlink.after(server.site, 0).items
    on, off = (decode_obj(i.message) for i in items)
    assert isinstance(on, DeviceCommand)
    assert isinstance(off, DeviceCommand)
    assert (on.device, on.command, on.detail) == (KIOSK, "out_of_service_on", "screen cracked")
    assert (off.command, off.detail) == ("out_of_service_off", "by admin")
    assert on.site == server.site
    assert server.post(path, "manager_other", {"out_of_service": True}).status_code == 404
    for role in ("display", "vendor_a", "gateway"):
        assert server.post(path, role, {"out_of_service": True}).status_code == 403
    missing = f"/api/v1/sites/{server.site}/devices/no-such-kiosk/out-of-service"
    assert server.post(missing, "manager", {"out_of_service": True}).status_code == 404
    assert server.ctx.downlink.pending(server.site) == 2


def test_a_stopping_server_answers_waiting_polls_at_once(server: Server) -> None:
    """``lobbywatch server run`` closes the queue when told to stop: a waiting poll must not
    hold the stop for its whole ``wait``."""
    path = f"/api/v1/gateways/{server.site}/downlink"
    answers: list[httpx.Response] = []
    poll = threading.Thread(target=lambda: answers.append(server.get(path, "gateway", after=0, wait=30)))
    started = time.monotonic()
    poll.start()
    assert wait_until(lambda: server.ctx.downlink.waiters(server.site) == 1, 10)
    server.ctx.downlink.close()
    poll.join(10)
    assert time.monotonic() - started < 10
    assert answers[0].status_code == 200
    assert answers[0].json()["items"] == []
    assert server.get(path, "gateway", after=0, wait=30).json()["items"] == []  # at once, too
