"""The daily ticket outlier report per counter and business type (JSON and CSV)."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from lobbywatch.protocol.tickets import TicketEvent

from .conftest import Server


def _serve(server: Server, ticket: str, business: str, counter: str, minutes: float) -> None:
    """Issue, call, serve and finish one ticket, the clock moving on meanwhile."""
    issued = server.clock.now()

    def ev(event: str, **kw: str) -> TicketEvent:
        msg: TicketEvent = server.make(
            TicketEvent, "qms", event=event, ticket=ticket, business=business, issued_at=issued, **kw
        )
        return msg

    first = [ev("issued")]
    server.clock.advance(60)
    first += [ev("called", counter=counter), ev("service_started", counter=counter)]
    server.clock.advance(minutes * 60)
    assert server.send([*first, ev("finished", counter=counter)]).json()["accepted"] == 4


def test_outliers_per_counter_and_business(server: Server) -> None:
    _serve(server, "A001", "new_subscription", "c1", 7)
    _serve(server, "A002", "new_subscription", "c1", 9)
    _serve(server, "B001", "sim_replacement", "c2", 4)
    _serve(server, "B002", "sim_replacement", "c2", 2)
    day = server.clock.now().astimezone(ZoneInfo("Asia/Shanghai")).date()
    path = f"/api/v1/reports/sites/{server.site}/ticket-outliers"
    r = server.get(path, role="manager", day=day.isoformat())
    assert r.status_code == 200, r.text
    rows = {(x["counter"], x["business"]): x for x in r.json()["rows"]}
    new = rows[("c1", "new_subscription")]
    assert (new["served"], new["limit_min"], new["over_limit"], new["max_min"]) == (2, 8, 1, 9.0)
    assert [o["ticket"] for o in new["outliers"]] == ["A002"]
    sim = rows[("c2", "sim_replacement")]
    assert (sim["served"], sim["limit_min"], sim["median_min"], sim["over_limit"]) == (2, 3, 3.0, 1)
    csv = server.get(path, role="manager", day=day.isoformat(), format="csv")
    assert csv.headers["content-type"].startswith("text/csv")
    lines = csv.text.splitlines()
    assert lines[0] == "counter,business,limit_min,served,median_min,max_min,over_limit,outliers"
    assert lines[1] == "c1,new_subscription,8.0,2,8.0,9.0,1,A002:9.0"
    assert server.get(path, role="vendor_a", day=day.isoformat()).status_code == 403
    assert server.get(path, role="manager_other", day=day.isoformat()).status_code == 404
