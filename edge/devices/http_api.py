"""The agent's local HTTP interface on 127.0.0.1, for kiosk software in any language: status,
the catalogue, raising/clearing faults, out of service, counter state, and `/metrics`
(Prometheus text).

It answers JSON, refuses bad input with a bilingual 4xx and never stops the agent; the
endpoints and error codes are listed in ``docs/device-agent.md``, "Local HTTP API".
"""

from __future__ import annotations

import ipaddress
import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from edge.devices.faults import UnknownFaultCode
from lobbywatch.protocol.codec import errors_from_validation
from lobbywatch.protocol.enums import CounterStatus
from lobbywatch.protocol.fields import FaultCode, ShortText

if TYPE_CHECKING:
    from edge.devices.agent import DeviceAgent

log = logging.getLogger(__name__)

#: Largest request body accepted, in bytes.
MAX_BODY_BYTES = 8 * 1024
#: Of a larger body, at most this much is read (and dropped) before the 413 answer.
DISCARD_MAX_BYTES = 4 * 1024 * 1024


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class FaultReport(_Body):
    code: FaultCode = Field(description="Fault code from the catalogue.")
    clear: bool = Field(default=False, description="True to clear the fault instead of raising it.")
    detail: ShortText | None = Field(default=None, description="Free text for the log.")


class OutOfServiceReport(_Body):
    on: bool = Field(description="True to post the out-of-service notice, False to remove it.")
    detail: ShortText | None = Field(default=None, description="Why.")


class CounterReport(_Body):
    state: CounterStatus = Field(description="serving, standby, learning or away.")


class ApiError(Exception):
    def __init__(self, status: int, en: str, zh: str, details: list[str] | None = None) -> None:
        super().__init__(en)
        self.status, self.en, self.zh, self.details = status, en, zh, details or []

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"error": self.en, "error_zh": self.zh}
        if self.details:
            out["details"] = self.details
        return out


def _parse(model: type[_Body], data: Any) -> Any:
    try:
        return _validate(model, data)
    except ValidationError as exc:
        details = [str(e) for e in errors_from_validation(exc)]
        raise ApiError(422, "invalid request: " + "; ".join(details), "请求内容无效", details) from None


def _validate(model: type[_Body], data: Any) -> Any:
    # JSON has no enums: let strings become enum values, keep every other type strict.
    if model is CounterReport and isinstance(data, dict) and isinstance(data.get("state"), str):
        return model.model_validate(data, strict=False)
    return model.model_validate(data)


def _is_loopback(host: str) -> bool:
    """``host`` (a Host header or an origin's host part, port optional) names this machine."""
    if host.startswith("["):
        name = host[1:].split("]")[0]
    else:
        name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    if name.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _check_local(host: str | None, origin: str | None) -> None:
    """Only this machine's programs may call: a web page elsewhere (cross-site request, DNS
    rebinding) names another host or origin and is refused with 403."""
    if host is None or not _is_loopback(host):
        raise ApiError(403, f"Host {host!r} is not this machine", "只接受本机请求（Host 不是本机）")
    if origin is not None:
        parsed = urlsplit(origin)
        if origin == "null" or not parsed.netloc or not _is_loopback(parsed.netloc):
            raise ApiError(403, f"Origin {origin!r} is not this machine", "只接受本机请求（Origin 不是本机）")


def _handler(agent: DeviceAgent) -> type[BaseHTTPRequestHandler]:
    """The request handler class bound to ``agent``. Each request is checked to come from this
    machine (Host, Origin), routed to the agent, and answered in JSON; a POST body is read only
    with a Content-Length within :data:`MAX_BODY_BYTES` and a JSON Content-Type. Every
    :class:`ApiError` becomes its 4xx and anything else a 500: the agent keeps running.
    """

    class Handler(BaseHTTPRequestHandler):
        server_version = "lobbywatch-device-agent"
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("http: " + format, *args)

        def _send(self, status: int, body: dict[str, Any]) -> None:
            raw = json.dumps(body, ensure_ascii=False).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def _body(self) -> Any:
            length_text = self.headers.get("Content-Length")
            if length_text is None:
                raise ApiError(411, "Content-Length header is required", "缺少 Content-Length 头")
            try:
                length = int(length_text)
            except ValueError:
                raise ApiError(400, "Content-Length is not a number", "Content-Length 不是数字") from None
            if length < 0:
                raise ApiError(400, "Content-Length is negative", "Content-Length 不能为负数")
            if length > MAX_BODY_BYTES:
                self.close_connection = True
                self._discard(min(length, DISCARD_MAX_BYTES))
                raise ApiError(
                    413,
                    f"body of {length} bytes is over the {MAX_BODY_BYTES}-byte limit",
                    f"请求体 {length} 字节，超过 {MAX_BODY_BYTES} 字节上限",
                )
            ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
            raw = self.rfile.read(length)
            if ctype != "application/json":
                raise ApiError(
                    415,
                    f"Content-Type must be application/json, not {ctype or 'missing'}",
                    "Content-Type 必须是 application/json",
                )
            try:
                return json.loads(raw)
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise ApiError(400, f"body is not JSON: {exc}", "请求体不是有效的 JSON") from None

        def _discard(self, size: int) -> None:
            """Read and drop up to ``size`` bytes, so the client gets to read our 413."""
            self.connection.settimeout(2.0)
            left = size
            try:
                while left > 0:
                    chunk = self.rfile.read(min(left, 65536))
                    if not chunk:
                        return
                    left -= len(chunk)
            except OSError:
                return

        def _dispatch(self, method: str) -> None:
            try:
                _check_local(self.headers.get("Host"), self.headers.get("Origin"))
                status, body = self._route(method)
            except ApiError as exc:
                status, body = exc.status, exc.body()
            except Exception as exc:  # the agent keeps running whatever happens here
                log.exception("local API request failed")
                status, body = 500, {"error": f"internal error: {exc}", "error_zh": "内部错误"}
            self._send(status, body)

        def _route(self, method: str) -> tuple[int, dict[str, Any]]:
            path = self.path.split("?")[0].rstrip("/")
            if method == "GET" and path == "/v1/status":
                return 200, agent.snapshot()
            if method == "GET" and path == "/v1/faults":
                return 200, {"faults": [f.model_dump(mode="json", by_alias=True) for f in agent.catalogue]}
            if method == "POST" and path == "/v1/fault":
                report: FaultReport = _parse(FaultReport, self._body())
                try:
                    changed = (
                        agent.clear_fault(report.code, report.detail)
                        if report.clear
                        else agent.raise_fault(report.code, report.detail)
                    )
                except UnknownFaultCode as exc:
                    raise ApiError(
                        422, str(exc), f"未知故障代码 {report.code!r}，见 docs/fault-codes.md"
                    ) from None
                return 200, {
                    "changed": changed,
                    "code": report.code,
                    "active": report.code in agent.state.faults,
                }
            if method == "POST" and path == "/v1/out-of-service":
                oos: OutOfServiceReport = _parse(OutOfServiceReport, self._body())
                changed = agent.set_out_of_service(oos.on, "hand", oos.detail)
                return 200, {"changed": changed, "out_of_service": oos.on}
            if method == "POST" and path == "/v1/counter":
                counter: CounterReport = _parse(CounterReport, self._body())
                from edge.devices.agent import NotACounterTerminal

                try:
                    changed = agent.set_counter_state(counter.state)
                except NotACounterTerminal as exc:
                    raise ApiError(409, str(exc), "该设备不是柜台终端，不能上报柜台状态") from None
                return 200, {"changed": changed, "state": counter.state.value}
            if method == "POST" and self.headers.get("Content-Length"):
                self.close_connection = True
            raise ApiError(404, f"no such endpoint: {method} {path}", f"没有这个接口：{method} {path}")

        def do_GET(self) -> None:
            if self.path.split("?")[0].rstrip("/") == "/metrics":
                self._metrics()
            else:
                self._dispatch("GET")

        def _metrics(self) -> None:
            """Prometheus text of the agent (edge/devices/metrics.py), for this machine only."""
            from edge.devices.metrics import CONTENT_TYPE, render

            try:
                _check_local(self.headers.get("Host"), self.headers.get("Origin"))
            except ApiError as exc:
                self._send(exc.status, exc.body())
                return
            raw = render(agent)
            self.send_response(200)
            self.send_header("Content-Type", CONTENT_TYPE)
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def do_POST(self) -> None:
            self._dispatch("POST")

    return Handler


def serve(agent: DeviceAgent, port: int = 0, host: str = "127.0.0.1") -> ThreadingHTTPServer:
    """Start the local API in a daemon thread; ``port`` 0 picks a free one."""
    server = ThreadingHTTPServer((host, port), _handler(agent))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="device-agent-http", daemon=True).start()
    return server


__all__ = ["MAX_BODY_BYTES", "CounterReport", "FaultReport", "OutOfServiceReport", "serve"]
