"""The pages' server side over HTTP: pages and assets, the hall layout, the alerts API and its
role checks, and the alerts event stream."""

from __future__ import annotations

import json

import httpx

from lobbywatch.protocol.enums import AlertState, Presence
from lobbywatch.protocol.messages import DeviceStatus

from .conftest import LiveServer


def raise_fault(s: LiveServer) -> str:
    """A faulted kiosk: the engine raises a device_fault alert; returns its id."""
    s.ingest([s.make(DeviceStatus, "kiosk-bill-1", state=Presence.ONLINE, faults=["PRN_JAM"])])
    [alert] = [a for a in s.alerts.engine.open_alerts(s.site) if a.kind == "device_fault"]
    return alert.id


def test_pages_and_assets_are_served_without_a_token(live_server: LiveServer) -> None:
    s = live_server
    wall = httpx.get(f"{s.url}/wall/{s.site}")
    assert wall.status_code == 200
    assert wall.headers["content-type"].startswith("text/html")
    assert "/web/static/wall.js" in wall.text
    assert "http" not in wall.text.replace('charset="utf-8"', "")
    staff = httpx.get(f"{s.url}/staff")
    assert staff.status_code == 200
    assert "/web/static/staff.js" in staff.text
    js = httpx.get(f"{s.url}/web/static/common.js")
    assert js.status_code == 200
    assert js.headers["content-type"].startswith("text/javascript")
    for bad in ("nope.js", "..%2Fapp.py", "__init__.py", ".hidden.css"):
        r = httpx.get(f"{s.url}/web/static/{bad}")
        assert r.status_code == 404, bad
        assert "message" in r.json()


def test_layout_names_the_hall_for_its_display_only(live_server: LiveServer) -> None:
    s = live_server
    r = s.api("GET", f"/api/v1/web/sites/{s.site}/layout", "display")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["name"] == {"en": "Pudong Century Avenue Business Hall", "zh-CN": "浦东世纪大道营业厅"}
    assert (body["timezone"], body["max_wait_min"], body["min_working_kiosks"]) == ("Asia/Shanghai", 10, 2)
    assert [z["id"] for z in body["zones"]][:3] == ["entrance", "guide-desk", "queue-main"]
    kiosks = [d["id"] for d in body["devices"] if d["self_service"]]
    assert kiosks == ["kiosk-topup-1", "kiosk-bill-1", "kiosk-sim-1"]
    assert s.api("GET", f"/api/v1/web/sites/{s.site}/layout", "manager_other").status_code == 404
    assert httpx.get(f"{s.url}/api/v1/web/sites/{s.site}/layout").status_code == 401


def test_alerts_list_and_acknowledge_check_roles(live_server: LiveServer) -> None:
    s = live_server
    alert_id = raise_fault(s)
    listed = s.api("GET", "/api/v1/alerts", "display").json()
    mine = next(a for a in listed if a["id"] == alert_id)
    assert mine["severity"] in ("warning", "critical")
    assert mine["state"] == "firing"
    assert "PRN_JAM" in mine["body"]["en"]
    assert "暂停服务告示" in mine["body"]["zh-CN"]
    assert s.api("GET", "/api/v1/alerts", "manager_other").json() == []
    assert s.api("GET", "/api/v1/alerts", "manager_other", params={"site": s.site}).status_code == 404
    # Only managers (of the site) and admins acknowledge.
    path = f"/api/v1/alerts/{alert_id}/ack"
    assert s.api("POST", path, "display", json={}).status_code == 403
    # Another hall's alert answers like a missing one.
    hidden = s.api("POST", path, "manager_other", json={})
    assert (hidden.status_code, hidden.json()["message"]) == (404, f"no alert {alert_id!r}")
    assert s.api("POST", path, "manager", json={"comment": "x" * 501}).status_code == 422
    assert s.api("POST", "/api/v1/alerts/feedfacefeedface/ack", "manager", json={}).status_code == 404
    r = s.api("POST", path, "manager", json={"comment": "  paper loaded  "})
    assert r.status_code == 200, r.text
    assert (r.json()["state"], r.json()["acked_by"], r.json()["ack_comment"]) == (
        "acknowledged",
        "manager-wang",
        "paper loaded",
    )
    stored = s.alerts.engine.get(alert_id)
    assert stored is not None
    assert stored.state == AlertState.ACKNOWLEDGED
    # Acknowledging twice keeps the first.
    again = s.api("POST", path, "admin", json={"comment": "later"}).json()
    assert (again["acked_by"], again["ack_comment"]) == ("manager-wang", "paper loaded")


def test_alerts_stream_sends_the_list_at_once_and_after_a_change(live_server: LiveServer) -> None:
    s = live_server
    headers = {"Authorization": f"Bearer {s.tokens['display']}"}
    events: list[dict[str, object]] = []
    with httpx.stream(
        "GET", f"{s.url}/api/v1/alerts/stream", params={"site": s.site}, headers=headers, timeout=10
    ) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        lines = r.iter_lines()
        for line in lines:
            if line.startswith("data: "):
                events.append(json.loads(line[6:]))
                if len(events) == 1:
                    assert events[0]["alerts"] == []
                    raise_fault(s)
                else:
                    break
    assert events[1]["as_of"] == s.clock.now().isoformat()
    alerts = events[1]["alerts"]
    assert isinstance(alerts, list)
    assert [a["kind"] for a in alerts] == ["device_fault"]
    denied = httpx.get(f"{s.url}/api/v1/alerts/stream", headers={"Authorization": "Bearer lw_nope"})
    assert denied.status_code == 401
