"""Authorisation matrix: each role against each endpoint family; vendors probing others' devices."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from lobbywatch.clock import FixedClock
from lobbywatch.protocol.enums import DeviceEventKind
from lobbywatch.protocol.messages import DeviceEvent, DeviceStatus
from server.core.security import Principal, PrincipalCache, parse_ttl

from .conftest import Server

ROLES = ["admin", "manager", "manager_other", "vendor_a", "vendor_b", "display", "display_other", "gateway"]
PERIOD = {"start": "2026-11-22T16:00:00Z", "end": "2026-11-23T16:00:00Z"}

# endpoint family -> (path template, query, expected status per role). 403: the role may not
# use the endpoint at all; 404: the resource is out of the token's scope (another site or
# vendor), answered like a missing one so that a token cannot probe what exists.
MATRIX: dict[str, tuple[str, dict[str, str], list[int]]] = {
    "live": ("/api/v1/sites/{site}/live", {}, [200, 200, 404, 403, 403, 200, 404, 403]),
    "sites": ("/api/v1/sites", {}, [200, 200, 200, 403, 403, 200, 200, 403]),
    "forecast": ("/api/v1/sites/{site}/forecast", {}, [200, 200, 404, 403, 403, 200, 404, 403]),
    "streams": ("/api/v1/sites/{site}/streams", {}, [200, 200, 404, 403, 403, 403, 403, 403]),
    "device": ("/api/v1/sites/{site}/devices/kiosk-topup-1", {}, [200, 200, 404, 200, 404, 403, 403, 403]),
    "episodes": (
        "/api/v1/sites/{site}/devices/kiosk-topup-1/episodes",
        {},
        [200, 200, 404, 200, 404, 403, 403, 403],
    ),
    "devices": ("/api/v1/devices", {}, [200, 200, 200, 200, 200, 403, 403, 403]),
    "faults": ("/api/v1/faults", {}, [200, 200, 200, 200, 200, 403, 403, 403]),
    "device_report": (
        "/api/v1/reports/devices/{site}/kiosk-topup-1",
        PERIOD,
        [200, 200, 404, 200, 404, 403, 403, 403],
    ),
    "vendor_report": (
        "/api/v1/reports/vendors/huaxin-maint",
        PERIOD,
        [200, 200, 200, 200, 404, 403, 403, 403],
    ),
    "monthly": (
        "/api/v1/reports/sites/{site}/monthly",
        {"month": "2026-11"},
        [200, 200, 404, 403, 403, 403, 403, 403],
    ),
    "device_logs": ("/api/v1/reports/device-logs", {}, [200, 200, 200, 200, 200, 403, 403, 403]),
    "admin": ("/api/v1/admin/tokens", {}, [200, 403, 403, 403, 403, 403, 403, 403]),
    "status": ("/api/v1/admin/status", {}, [200, 403, 403, 403, 403, 403, 403, 403]),
}


@pytest.mark.parametrize("family", sorted(MATRIX))
def test_role_matrix(server: Server, family: str) -> None:
    path, query, expected = MATRIX[family]
    url = path.format(site=server.site)
    got = [server.get(url, role, **query).status_code for role in ROLES]
    assert dict(zip(ROLES, got, strict=True)) == dict(zip(ROLES, expected, strict=True))
    anonymous = server.client.get(url, params=query)
    assert anonymous.status_code == 401
    assert anonymous.json()["message"]


def test_ingest_only_for_the_sites_gateway(server: Server) -> None:
    msg = server.make(DeviceStatus, "kiosk-topup-1", state="online")
    for role in ROLES:
        expected = 200 if role == "gateway" else 403
        assert server.send([msg], token=role).status_code == expected, role


def test_vendor_sees_only_its_own_devices_everywhere(server: Server) -> None:
    server.send([server.make(DeviceStatus, "kiosk-sim-1", state="online")])
    a = {(d["site"], d["id"]) for d in server.get("/api/v1/devices", "vendor_a").json()}
    assert a == {(server.site, "kiosk-topup-1"), (server.site, "kiosk-bill-1")}
    b = server.get("/api/v1/devices", "vendor_b").json()
    assert {d["vendor"] for d in b} == {"zhongtian-svc"}
    mine = server.get("/api/v1/devices", "manager").json()
    assert {d["site"] for d in mine} == {server.site}


def test_vendor_probing_another_vendors_device_gets_404(server: Server) -> None:
    raise_fault = server.make(
        DeviceEvent, "kiosk-topup-1", event=DeviceEventKind.FAULT_RAISED, code="PRN_PAPER_OUT"
    )
    server.send([raise_fault])
    [fault] = server.get("/api/v1/faults", "vendor_a", open="true").json()
    assert server.get("/api/v1/faults", "vendor_b").json() == []
    for path in (
        f"/api/v1/sites/{server.site}/devices/kiosk-topup-1",
        f"/api/v1/sites/{server.site}/devices/kiosk-bill-1/episodes",
        f"/api/v1/sites/{server.site}/devices/no-such-device",
    ):
        resp = server.get(path, "vendor_b")
        assert resp.status_code == 404
        assert "no device" in resp.json()["message"]
    assert server.post(f"/api/v1/faults/{fault['id']}/ack", "vendor_b").status_code == 404
    assert server.post(f"/api/v1/faults/{fault['id']}/ack", "display").status_code == 403
    acked = server.post(f"/api/v1/faults/{fault['id']}/ack", "vendor_a").json()
    assert acked["acknowledged_at"] is not None


def test_tokens_are_created_hashed_and_revocable(server: Server) -> None:
    resp = server.post(
        "/api/v1/admin/tokens", body={"name": "lobby tv", "role": "display", "sites": [server.site]}
    )
    assert resp.status_code == 201
    created = resp.json()
    token = created["token"]
    assert token.startswith("lw_")
    listed = server.get("/api/v1/admin/tokens").json()
    assert all(t["token"] is None for t in listed)
    headers = {"Authorization": f"Bearer {token}"}
    assert server.client.get(f"/api/v1/sites/{server.site}/live", headers=headers).status_code == 200
    bad = server.post("/api/v1/admin/tokens", body={"name": "x", "role": "gateway", "sites": []})
    assert bad.status_code == 422
    assert "exactly one site" in bad.json()["message"]
    assert (
        server.client.delete(
            f"/api/v1/admin/tokens/{created['id']}", headers=server_headers(server)
        ).status_code
        == 200
    )
    assert server.client.get(f"/api/v1/sites/{server.site}/live", headers=headers).status_code == 401


def server_headers(server: Server) -> dict[str, str]:
    return {"Authorization": f"Bearer {server.tokens['admin']}"}


def test_live_stream_refuses_other_roles_and_sites(server: Server) -> None:
    url = f"/api/v1/sites/{server.site}/live/stream"
    for role in ("vendor_a", "gateway"):
        assert server.get(url, role).status_code == 403, role
    for role in ("manager_other", "display_other"):
        assert server.get(url, role).status_code == 404, role
    assert server.client.get(url, params={"access_token": server.tokens["vendor_a"]}).status_code == 403
    assert server.client.get(url).status_code == 401


def test_out_of_scope_answers_like_missing(server: Server) -> None:
    """Another hall, device or fault answers exactly as a missing one: nothing to probe."""
    for path in ("/api/v1/sites/{}/live", "/api/v1/sites/{}/streams", "/api/v1/reports/sites/{}/monthly"):
        hidden = server.get(path.format(server.site), "manager_other", month="2026-11")
        missing = server.get(path.format("no-such-hall"), "manager_other", month="2026-11")
        assert (hidden.status_code, missing.status_code) == (404, 404), path
        assert hidden.json()["message"] == missing.json()["message"].replace("no-such-hall", server.site)
    device = f"/api/v1/sites/{server.site}/devices/" + "{}"
    hidden = server.get(device.format("kiosk-topup-1"), "manager_other")
    missing = server.get(device.format("kiosk-nope-9"), "manager_other")
    assert (hidden.status_code, missing.status_code) == (404, 404)
    assert hidden.json()["message"] == missing.json()["message"].replace("kiosk-nope-9", "kiosk-topup-1")
    server.send([server.make(DeviceEvent, "kiosk-topup-1", event=DeviceEventKind.FAULT_RAISED, code="X1")])
    [fault] = server.get("/api/v1/faults", "manager", open="true").json()
    hidden = server.post(f"/api/v1/faults/{fault['id']}/ack", "manager_other")
    missing = server.post("/api/v1/faults/999999/ack", "manager_other")
    assert (hidden.status_code, missing.status_code) == (404, 404)
    assert hidden.json()["message"] == f"no fault {fault['id']}"
    assert server.get("/api/v1/faults?open=true", "manager").json()[0]["acknowledged_at"] is None


def test_principal_cache_forgets_after_its_ttl() -> None:
    clock = FixedClock(datetime(2026, 11, 23, 9, 0, tzinfo=UTC))
    cache = PrincipalCache(clock, ttl_s=5.0)
    p = Principal(1, "gw", "gateway", frozenset({"hall"}), None)
    cache.put("h", p)
    clock.advance(4.9)
    assert cache.get("h") == p
    clock.advance(0.2)
    assert cache.get("h") is None
    cache.put("h", p)
    cache.clear()
    assert cache.get("h") is None


def test_principal_cache_never_outlives_the_tokens_expiry() -> None:
    clock = FixedClock(datetime(2026, 11, 23, 9, 0, tzinfo=UTC))
    cache = PrincipalCache(clock, ttl_s=5.0)
    p = Principal(1, "tv", "display", frozenset({"hall"}), None, clock.now() + timedelta(seconds=2))
    cache.put("h", p)
    clock.advance(1.9)
    assert cache.get("h") == p
    clock.advance(0.1)
    assert cache.get("h") is None


def test_ttl_texts() -> None:
    assert parse_ttl("30d") == timedelta(days=30)
    assert parse_ttl("12h") == timedelta(hours=12)
    assert parse_ttl(" 45m ") == timedelta(minutes=45)
    assert parse_ttl("2w") == timedelta(weeks=2)
    for bad in ("", "0h", "30", "1y", "-1d", "1.5h", "99999d"):
        with pytest.raises(ValueError, match="lifetime"):
            parse_ttl(bad)


def test_tokens_expire_when_asked(make_server: Callable[..., Server], sql_url: str) -> None:
    server = make_server(sql_url=sql_url)  # migration 0002 on SQLite and PostgreSQL
    base = {"name": "visitor tv", "role": "display", "sites": [server.site]}
    in_a_day = (server.clock.now() + timedelta(days=1)).isoformat()
    by_date = server.post("/api/v1/admin/tokens", body={**base, "expires_at": in_a_day})
    assert by_date.status_code == 201, by_date.text
    assert datetime.fromisoformat(by_date.json()["expires_at"]) == datetime.fromisoformat(in_a_day)
    by_ttl = server.post("/api/v1/admin/tokens", body={**base, "ttl_s": 3600}).json()
    never = server.post("/api/v1/admin/tokens", body=base).json()
    assert never["expires_at"] is None
    live = f"/api/v1/sites/{server.site}/live"
    for token in (by_date.json(), by_ttl, never):
        got = server.client.get(live, headers={"Authorization": f"Bearer {token['token']}"})
        assert got.status_code == 200
    server.clock.advance(3600)
    expired = server.client.get(live, headers={"Authorization": f"Bearer {by_ttl['token']}"})
    assert (expired.status_code, expired.json()["message"]) == (401, "token expired")
    assert expired.headers["www-authenticate"] == "Bearer"
    still = server.client.get(live, headers={"Authorization": f"Bearer {by_date.json()['token']}"})
    assert still.status_code == 200
    listed = {t["id"]: t for t in server.get("/api/v1/admin/tokens").json()}
    assert listed[by_ttl["id"]]["expires_at"] == by_ttl["expires_at"]
    past = server.post("/api/v1/admin/tokens", body={**base, "expires_at": "2020-01-01T00:00:00Z"})
    assert (past.status_code, past.json()["message"]) == (422, "expires_at must be in the future")
    both = server.post("/api/v1/admin/tokens", body={**base, "ttl_s": 60, "expires_at": in_a_day})
    assert both.status_code == 422
    assert "not both" in both.json()["message"]
    for bad in ({"ttl_s": 0}, {"expires_at": "2030-01-01T00:00:00"}):  # no lifetime; no offset
        assert server.post("/api/v1/admin/tokens", body={**base, **bad}).status_code == 422, bad
