"""A local HTTP receiver that speaks the few Grafana API endpoints ``dashboards push`` uses.

No Grafana can run here, so this small real HTTP server stands in: it keeps folders, data
sources and dashboards in memory the way Grafana does (ids, versions, ``secureJsonFields``,
``meta.folderUid``), and records every request so tests can assert on the calls made.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Json = dict[str, Any]


@dataclass
class Call:
    method: str
    path: str
    body: Any
    authorization: str


@dataclass
class GrafanaState:
    folders: dict[str, Json] = field(default_factory=dict)
    datasources: dict[str, Json] = field(default_factory=dict)
    dashboards: dict[str, Json] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    token: str = "test-token"
    next_id: int = 1

    def writes(self) -> list[Call]:
        """Calls that create or change something."""
        return [c for c in self.calls if c.method in ("POST", "PUT", "DELETE", "PATCH")]


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # silence the default stderr log
        pass

    def _reply(self, code: int, body: Json) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _handle(self) -> None:
        state = self.server.state
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        body = json.loads(raw) if raw else None
        auth = self.headers.get("Authorization", "")
        path = self.path.split("?")[0]
        state.calls.append(Call(self.command, path, body, auth))
        if auth != f"Bearer {state.token}":
            self._reply(401, {"message": "Unauthorized"})
            return
        code, reply = self._route(self.command, path, body)
        self._reply(code, reply)

    do_GET = do_POST = do_PUT = _handle

    def _new_id(self) -> int:
        state = self.server.state
        state.next_id += 1
        return state.next_id

    def _route(self, method: str, path: str, body: Any) -> tuple[int, Json]:
        state = self.server.state
        if m := re.fullmatch(r"/api/folders/([\w-]+)", path):
            uid = m.group(1)
            if method == "GET":
                return (200, state.folders[uid]) if uid in state.folders else (404, {"message": "not found"})
            if method == "PUT" and uid in state.folders:
                state.folders[uid] = {**state.folders[uid], "title": body["title"]}
                return 200, state.folders[uid]
        if path == "/api/folders" and method == "POST":
            uid = body["uid"]
            if uid in state.folders:
                return 409, {"message": "a folder with the same uid already exists"}
            state.folders[uid] = {"id": self._new_id(), "uid": uid, "title": body["title"]}
            return 200, state.folders[uid]
        if m := re.fullmatch(r"/api/datasources/uid/([\w-]+)", path):
            uid = m.group(1)
            if method == "GET":
                if uid not in state.datasources:
                    return 404, {"message": "Data source not found"}
                return 200, state.datasources[uid]
            if method == "PUT" and uid in state.datasources:
                state.datasources[uid] = self._stored_ds(body, state.datasources[uid]["id"])
                return 200, {"message": "Datasource updated", "datasource": state.datasources[uid]}
        if path == "/api/datasources" and method == "POST":
            if body["uid"] in state.datasources:
                return 409, {"message": "data source with the same uid already exists"}
            state.datasources[body["uid"]] = self._stored_ds(body, self._new_id())
            return 200, {"message": "Datasource added", "datasource": state.datasources[body["uid"]]}
        if m := re.fullmatch(r"/api/dashboards/uid/([\w-]+)", path):
            uid = m.group(1)
            if method == "GET":
                return (200, state.dashboards[uid]) if uid in state.dashboards else (404, {"message": "nf"})
        if path == "/api/dashboards/db" and method == "POST":
            dash = dict(body["dashboard"])
            uid = dash["uid"]
            old = state.dashboards.get(uid)
            if old is not None and not body.get("overwrite"):
                return 412, {"message": "version-mismatch"}
            if body.get("folderUid") not in state.folders:
                return 400, {"message": "folder not found"}
            dash["id"] = old["dashboard"]["id"] if old else self._new_id()
            dash["version"] = old["dashboard"]["version"] + 1 if old else 1
            state.dashboards[uid] = {"dashboard": dash, "meta": {"folderUid": body["folderUid"]}}
            return 200, {"id": dash["id"], "uid": uid, "status": "success", "version": dash["version"]}
        return 404, {"message": f"no route {method} {path}"}

    @staticmethod
    def _stored_ds(body: Json, ds_id: int) -> Json:
        stored = {k: v for k, v in body.items() if k != "secureJsonData"}
        stored["id"] = ds_id
        stored["secureJsonFields"] = {k: True for k in body.get("secureJsonData", {})}
        return stored


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, state: GrafanaState) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.state = state


class FakeGrafana:
    """Start with ``with FakeGrafana() as g:``; ``g.url`` and ``g.state`` for the test."""

    def __init__(self) -> None:
        self.state = GrafanaState()
        self._server = _Server(self.state)
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> FakeGrafana:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
