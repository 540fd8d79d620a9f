"""The floor roles: a guide sees and acknowledges only its hall's care tasks; a counter token
sees only its own counter; both are refused everywhere else (docs/server.md, "Roles")."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text
from typer.testing import CliRunner

from lobbywatch.protocol.codec import decode_obj
from lobbywatch.protocol.enums import ZoneKind
from lobbywatch.protocol.messages import CounterStateSet, ZoneState
from lobbywatch.protocol.tickets import TicketEvent
from lobbywatch.protocol.topics import counter_downlink_topic, topic_for
from server.core.config import BootstrapToken, check_role_binding, load_server_settings
from server.core.security import create_token, hash_token
from server.storage.db import Database
from server.storage.models import ApiToken
from system.cli import app as cli_app

from .conftest import Server
from .test_auth import MATRIX

FLOOR_TOKENS: dict[str, dict[str, Any]] = {
    "guide": {"role": "guide", "sites": ["{site}"]},
    "guide_other": {"role": "guide", "sites": ["{other}"]},
    "counter_c1": {"role": "counter", "sites": ["{site}"], "counter": "c1"},
    "counter_c2": {"role": "counter", "sites": ["{site}"], "counter": "c2"},
}


@pytest.fixture
def floor(server: Server) -> Server:
    """The server with guide and counter tokens besides the usual ones."""
    with server.ctx.db.session() as session:
        for name, spec in FLOOR_TOKENS.items():
            sites = [s.format(site=server.site, other=server.other_site) for s in spec["sites"]]
            _row, plain = create_token(
                session, name=f"{name}-li", created_at=server.clock.now(), **{**spec, "sites": sites}
            )
            assert plain is not None
            server.tokens[name] = plain
    return server


def zone(server: Server, zone_id: str, kind: ZoneKind, n: int, longest_s: float | None) -> ZoneState:
    cam = "cam-counters" if zone_id != "waiting" else "cam-entrance"
    zs: ZoneState = server.make(
        ZoneState,
        cam,
        zone=zone_id,
        kind=kind,
        occupancy=float(n),
        count=n,
        queue_length=n if kind == ZoneKind.QUEUE else None,
        longest_wait_s=longest_s,
        longest_wait_at=(0.25, 0.75) if longest_s else None,
        entered_total=10,
        exited_total=10 - n,
    )
    return zs


def busy_floor(server: Server) -> None:
    """A long line at the counters (no upsell), someone waiting 20 min (care), a transaction."""
    resp = server.send(
        [
            zone(server, "queue-main", ZoneKind.QUEUE, 7, 1300.0),
            zone(server, "counter-1", ZoneKind.COUNTER, 1, 150.0),
        ]
    )
    assert resp.status_code == 200, resp.text
    server.clock.advance(120)  # past every rule's hold time
    resp = server.send(
        [
            zone(server, "queue-main", ZoneKind.QUEUE, 7, 1420.0),
            zone(server, "counter-1", ZoneKind.COUNTER, 1, 270.0),
        ]
    )
    assert resp.status_code == 200, resp.text


@pytest.mark.parametrize("family", sorted(MATRIX))
def test_floor_roles_are_refused_by_every_other_endpoint(floor: Server, family: str) -> None:
    path, query, _expected = MATRIX[family]
    for role in FLOOR_TOKENS:
        assert floor.get(path.format(site=floor.site), role, **query).status_code == 403, (family, role)


def test_floor_roles_cannot_ingest_read_alerts_or_acknowledge_elsewhere(floor: Server) -> None:
    busy_floor(floor)
    [upsell] = [a for a in floor.get("/api/v1/alerts", "manager").json() if a["kind"] == "no_upsell"]
    for role in FLOOR_TOKENS:
        assert floor.get("/api/v1/alerts", role).status_code == 403
        assert floor.get(f"/api/v1/sites/{floor.site}/live/stream", role).status_code == 403
        assert floor.post(f"/api/v1/alerts/{upsell['id']}/ack", role, {}).status_code == 403
        assert floor.send([], token=role).status_code == 403


def test_counter_token_sees_only_its_counter(floor: Server) -> None:
    busy_floor(floor)
    base = f"/api/v1/sites/{floor.site}/counters"
    view = floor.get(f"{base}/c1/display", "counter_c1")
    assert view.status_code == 200, view.text
    body = view.json()
    assert body["name"] == {"en": "Counter 1", "zh-CN": "1号台席"}
    assert (body["queue"], body["queue_length"], body["no_upsell"], body["no_upsell_at"]) == (
        "queue-main",
        7,
        True,
        3,
    )
    assert body["transaction"] == {"elapsed_s": 270.0, "limit_s": 180.0, "business": None}
    assert body["state"] == "serving"  # someone is in the counter zone (server/counter_states.py)
    for role, counter, status in [
        ("counter_c1", "c2", 404),  # another counter: like a missing one
        ("counter_c2", "c1", 404),
        ("counter_c1", "c9", 404),
        ("manager", "c2", 200),
        ("admin", "c3", 200),
        ("manager_other", "c1", 404),
        ("guide", "c1", 403),
        ("display", "c1", 403),
        ("vendor_a", "c1", 403),
    ]:
        assert floor.get(f"{base}/{counter}/display", role).status_code == status, (role, counter)
    other = f"/api/v1/sites/{floor.other_site}/counters/c1/display"
    assert floor.get(other, "counter_c1").status_code == 404


def test_counter_sets_its_state_and_the_live_state_shows_it(floor: Server) -> None:
    base = f"/api/v1/sites/{floor.site}/counters"
    resp = floor.post(f"{base}/c1/state", "counter_c1", {"state": "learning"})
    assert resp.status_code == 200, resp.text
    assert resp.json()["state"] == "learning"
    assert resp.json()["state_since"] == floor.clock.now().isoformat().replace("+00:00", "Z")
    live = floor.get(f"/api/v1/sites/{floor.site}/live", "manager").json()
    assert [(c["counter"], c["state"]) for c in live["counters"]] == [("c1", "learning")]
    floor.clock.advance(5)
    assert floor.post(f"{base}/c1/state", "counter_c1", {"state": "serving"}).json()["state"] == "serving"
    assert floor.get(f"/api/v1/sites/{floor.site}/live", "manager").json()["counters_serving"] == 1
    assert floor.post(f"{base}/c2/state", "counter_c1", {"state": "away"}).status_code == 404
    assert floor.post(f"{base}/c1/state", "guide", {"state": "away"}).status_code == 403
    assert floor.post(f"{base}/c1/state", "counter_c1", {"state": "asleep"}).status_code == 422


def test_a_state_set_on_the_display_goes_down_to_the_hall(floor: Server) -> None:
    """Queued for the hall's gateway as a retained ``counter_state_set`` on the counter's
    topic; when the queue cannot take it, 503 and nothing changes (docs/protocol.md,
    "Counter states"). The gateway's part: tests/gateway/test_counter_downlink.py."""
    base = f"/api/v1/sites/{floor.site}/counters"
    assert floor.post(f"{base}/c1/state", "counter_c1", {"state": "learning"}).status_code == 200
    items = floor.ctx.downlink.after(floor.site, 0).items
    [sent] = [decode_obj(i.message) for i in items if i.message["type"] == "counter_state_set"]
    assert isinstance(sent, CounterStateSet)
    assert (sent.site, sent.counter, sent.state, sent.since) == (
        floor.site,
        "c1",
        "learning",
        floor.clock.now(),
    )
    assert (topic_for(sent), sent.RETAINED) == (counter_downlink_topic(floor.site, "c1"), True)

    with floor.ctx.db.session() as session:  # the database refuses the queue's rows
        session.execute(text("DROP TABLE downlink_items"))
    floor.clock.advance(5)
    refused = floor.post(f"{base}/c1/state", "counter_c1", {"state": "away"})
    assert refused.status_code == 503, refused.text
    assert floor.get(f"{base}/c1/display", "counter_c1").json()["state"] == "learning"


def test_guide_sees_and_acknowledges_only_its_halls_care_tasks(floor: Server) -> None:
    busy_floor(floor)
    care = f"/api/v1/sites/{floor.site}/care"
    listed = floor.get(care, "guide")
    assert listed.status_code == 200, listed.text
    [task] = listed.json()["tasks"]
    assert task["alert"]["kind"] == "long_wait"
    assert task["alert"]["zone"] == "queue-main"
    assert task["position"] == [0.25, 0.75]
    assert floor.get(care, "guide_other").status_code == 404
    assert floor.get(care, "counter_c1").status_code == 403
    assert floor.get(care, "display").status_code == 403
    assert floor.get(care, "manager").status_code == 200
    upsell = next(a for a in floor.get("/api/v1/alerts", "manager").json() if a["kind"] == "no_upsell")
    # Not a care task: the guide cannot acknowledge it (answered like a missing one).
    assert floor.post(f"{care}/{upsell['id']}/ack", "guide", {}).status_code == 404
    assert floor.post(f"{care}/{task['alert']['id']}/ack", "guide_other", {}).status_code == 404
    assert floor.post(f"{care}/{task['alert']['id']}/ack", "counter_c1", {}).status_code == 403
    acked = floor.post(f"{care}/{task['alert']['id']}/ack", "guide", {"comment": "with them"})
    assert acked.status_code == 200, acked.text
    assert (acked.json()["state"], acked.json()["acked_by"]) == ("acknowledged", "guide-li")
    [still] = floor.get(care, "guide").json()["tasks"]
    assert still["alert"]["ack_comment"] == "with them"


def test_floor_tokens_are_bound_to_what_they_serve(floor: Server) -> None:
    with pytest.raises(ValueError, match="exactly one site"):
        check_role_binding("guide", [], None)
    with pytest.raises(ValueError, match="names its counter"):
        check_role_binding("counter", ["x"], None)
    with pytest.raises(ValueError, match="names its counter"):
        check_role_binding("manager", ["x"], None, "c1")
    with pytest.raises(ValueError, match="names its counter"):
        BootstrapToken(name="c", role="counter", sha256="0" * 64, sites=["x"])
    created = floor.post(
        "/api/v1/admin/tokens",
        body={"name": "desk 2 tablet", "role": "counter", "sites": [floor.site], "counter": "c2"},
    )
    assert created.status_code == 201, created.text
    assert created.json()["counter"] == "c2"
    headers = {"Authorization": f"Bearer {created.json()['token']}"}
    url = f"/api/v1/sites/{floor.site}/counters/c2/display"
    assert floor.client.get(url, headers=headers).status_code == 200
    bad = floor.post("/api/v1/admin/tokens", body={"name": "x", "role": "counter", "sites": [floor.site]})
    assert bad.status_code == 422


def test_cli_creates_guide_and_counter_tokens(tmp_path: Path) -> None:
    config = tmp_path / "server.yaml"
    config.write_text("sql_url: sqlite:///s.sqlite3\ninflux: {enabled: false}\n")
    runner = CliRunner()
    common = ["server", "token", "create", "--config", str(config), "--site", "sh-a"]
    made = runner.invoke(cli_app, [*common, "--role", "counter", "--name", "desk-1", "--counter", "c1"])
    assert made.exit_code == 0, made.output
    guide = runner.invoke(cli_app, [*common, "--role", "guide", "--name", "guide-zhang"])
    assert guide.exit_code == 0, guide.output
    db = Database(load_server_settings(config).sql_url)
    with db.session() as session:
        row = session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(made.output.strip())))
        assert row is not None
        assert (row.role, row.counter, row.sites) == ("counter", "c1", '["sh-a"]')
    db.dispose()
    missing = runner.invoke(cli_app, [*common, "--role", "counter", "--name", "desk-2"])
    assert missing.exit_code == 2
    assert "names its counter" in missing.output


def test_counter_display_times_the_ticket_against_its_business_limit(floor: Server) -> None:
    """Where a ticket system reports the counter's ticket, the display times it from service
    start against that business type's limit (new subscription: 8 min), not transaction_min."""
    issued = floor.clock.now()

    def ticket(event: str, **fields: Any) -> TicketEvent:
        ev: TicketEvent = floor.make(
            TicketEvent,
            "qms",
            event=event,
            ticket="A001",
            business="new_subscription",
            issued_at=issued,
            **fields,
        )
        return ev

    resp = floor.send(
        [ticket("issued"), ticket("called", counter="c1"), ticket("service_started", counter="c1")]
    )
    assert resp.status_code == 200, resp.text
    floor.clock.advance(300)
    body = floor.get(f"/api/v1/sites/{floor.site}/counters/c1/display", "counter_c1").json()
    assert body["transaction"] == {"elapsed_s": 300.0, "limit_s": 480.0, "business": "new_subscription"}
    assert body["state"] == "serving"
