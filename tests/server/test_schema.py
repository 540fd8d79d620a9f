"""Schemathesis against the OpenAPI schema: generated requests never make the server answer 5xx."""

from __future__ import annotations

from typing import Any

import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lobbywatch.protocol.enums import ZoneKind
from lobbywatch.protocol.messages import ZoneState

from .conftest import Server


def test_openapi_docs_and_every_endpoint_states_its_role(server: Server) -> None:
    assert server.client.get("/docs").status_code == 200
    spec = server.client.get("/openapi.json").json()
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            assert "Role:" in op.get("description", ""), f"{method.upper()} {path} does not state its role"


def test_no_server_errors_on_generated_requests(server: Server) -> None:
    # Some data, so generated requests meet real rows too.
    server.send(
        [
            server.make(
                ZoneState,
                "cam-counters",
                zone="queue-main",
                kind=ZoneKind.QUEUE,
                occupancy=1,
                count=1,
                entered_total=1,
                exited_total=0,
            )
        ]
    )
    schema = schemathesis.openapi.from_dict(server.client.get("/openapi.json").json())
    schema.config.update(base_url="http://testserver")
    failures: list[str] = []
    covered: set[str] = set()
    for result in schema.get_all_operations():
        op: Any = result.ok()  # type: ignore[union-attr]
        if op.path.endswith("/live/stream"):
            continue  # an endless stream (tests/server/web/test_token_life.py, test_run.py)
        for role in ("admin", "manager", "gateway"):
            run_operation(server.client, op, {"Authorization": f"Bearer {server.tokens[role]}"}, failures)
        covered.add(f"{op.method.upper()} {op.path}")
    # Every operation of the document (each new endpoint too) was fuzzed.
    spec = server.client.get("/openapi.json").json()
    listed = {f"{m.upper()} {p}" for p, ops in spec["paths"].items() for m in ops}
    assert listed - covered == {"GET /api/v1/sites/{site}/live/stream"}
    assert len(covered) > 25
    assert failures == []


def run_operation(client: TestClient, op: Any, headers: dict[str, str], failures: list[str]) -> None:
    @settings(
        max_examples=6,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(data=st.data())
    def check(data: st.DataObject) -> None:
        case = data.draw(op.as_strategy())
        # Sent through the test client: schemathesis' own requests transport does not work
        # with the urllib3 installed here.
        kw = case.as_transport_kwargs(base_url="http://testserver", headers=headers)
        response = client.request(
            kw["method"],
            kw["url"],
            headers={**kw["headers"], **headers},
            params=kw.get("params"),
            json=kw.get("json"),
            content=kw.get("data"),
        )
        if response.status_code >= 500:
            failures.append(
                f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:200]}"
            )

    check()
