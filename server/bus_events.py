"""Alert events and changes between processes on the JetStream bus, over core NATS.

* ``<prefix>-events.alert.<site>``: every update of an alert (fired, acknowledged, resolved...),
  published by the worker whose engine made it (:class:`AlertEvents`); each API replica hears
  them (:class:`RemoteAlerts`) and redraws its alert and care streams.
* ``<prefix>-events.alerts.change``: an acknowledgement or a silence asked for through any API
  replica, a request answered by the one worker whose engine owns the alert's site (the others
  stay silent): the engine stays the one writer of alert state, and its escalation stops at once.

An API replica reads alerts from SQL (the engine stores every update before telling anyone), so
an acknowledgement through one replica is in the other's answers as soon as the first answered,
and in its streams a NATS hop later. docs/distributed.md, "Roles".
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable

from nats.aio.msg import Msg

from lobbywatch.config.notify import Silence
from server.alerts.model import Alert, AlertUpdate, UpdateEvent
from server.alerts.service import AlertService
from server.alerts.store import AlertStore
from server.alerts_api import AlertsUnavailable
from server.bus_nats import NatsLink
from server.subscribers import Subscribers

log = logging.getLogger(__name__)

REQUEST_TIMEOUT_S = 5.0  # no worker owns the site (a takeover under way): the API answers 503


class AlertEvents:
    """The worker side: publish the engine's updates, make the changes asked for its sites."""

    def __init__(self, link: NatsLink, service: AlertService, owns: Callable[[str], bool]) -> None:
        self.link = link
        self.service = service
        self.owns = owns  # whether this process's engine consumes the site now
        self._stops: list[Callable[[], None]] = []

    def start(self) -> None:
        self._stops.append(self.service.engine.add_listener(self._publish))
        self.link.run(self._subscribe(), 30)

    async def _subscribe(self) -> None:
        await self.link.nc.subscribe(self.link.subject("alerts", "change"), cb=self._on_change)

    def _publish(self, update: AlertUpdate) -> None:
        """Called under the engine's lock: hand the publish to the loop, never wait."""
        a = update.alert
        body = json.dumps({"alert": a.id, "site": a.site, "event": update.event.value}).encode()
        subject = self.link.subject("alert", a.site)
        asyncio.run_coroutine_threadsafe(self.link.nc.publish(subject, body), self.link.loop)

    async def _on_change(self, msg: Msg) -> None:
        request = json.loads(msg.data)
        site = request["site"]
        if not self.owns(site):
            return  # the owner answers
        loop = asyncio.get_running_loop()
        try:
            answer = await loop.run_in_executor(None, self._change, request)
        except KeyError as exc:
            answer = {"error": "not-open", "detail": str(exc)}
        except Exception as exc:
            log.exception("alert change %r failed", request)
            answer = {"error": "failed", "detail": str(exc)}
        await msg.respond(json.dumps(answer).encode())

    def _change(self, request: dict[str, str]) -> dict[str, str]:
        engine = self.service.engine
        if request["op"] == "ack":
            alert = engine.acknowledge(request["alert"], request["by"], request.get("comment") or None)
            return {"alert": alert.id}
        engine.add_silence(request["site"], Silence.model_validate_json(request["silence"]))
        return {}

    def stop(self) -> None:
        for stop in self._stops:
            stop()
        self._stops.clear()


class RemoteEngine:
    """:class:`server.alerts_api.AlertEngineApi` of an API replica: reads from SQL, changes
    through the owning worker, updates from the workers' events."""

    def __init__(self, link: NatsLink, store: AlertStore) -> None:
        self.link = link
        self.store = store
        self._listeners = Subscribers[Callable[[AlertUpdate], None]]()

    async def subscribe(self) -> None:
        await self.link.nc.subscribe(self.link.subject("alert", "*"), cb=self._on_event)

    async def _on_event(self, msg: Msg) -> None:
        event = json.loads(msg.data)
        alert = await asyncio.get_running_loop().run_in_executor(None, self.store.get, event["alert"])
        if alert is None:
            return
        update = AlertUpdate(alert, UpdateEvent(event["event"]), alert.updated_at)
        for listener in self._listeners.snapshot():
            try:
                listener(update)
            except Exception:
                log.exception("alert listener failed")

    def open_alerts(self, site: str | None = None) -> list[Alert]:
        return sorted(self.store.open_alerts(site), key=lambda a: a.started_at)

    def get(self, alert_id: str) -> Alert | None:
        return self.store.get(alert_id)

    def add_listener(self, listener: Callable[[AlertUpdate], None]) -> Callable[[], None]:
        return self._listeners.add(listener)

    def acknowledge(self, alert_id: str, by: str, comment: str | None = None) -> Alert:
        """Raises KeyError when the alert is not open, :class:`AlertsUnavailable` when no
        worker answered."""
        alert = self.store.get(alert_id)
        if alert is None:
            raise KeyError(f"no open alert {alert_id!r}")
        answer = self._ask(
            {"op": "ack", "site": alert.site, "alert": alert_id, "by": by, "comment": comment or ""}
        )
        if answer.get("error") == "not-open":
            raise KeyError(f"no open alert {alert_id!r}")
        acked = self.store.get(alert_id)
        assert acked is not None
        return acked

    def add_silence(self, site: str, silence: Silence) -> list[AlertUpdate]:
        self._ask({"op": "silence", "site": site, "silence": silence.model_dump_json()})
        return []

    def _ask(self, request: dict[str, str]) -> dict[str, str]:
        async def ask() -> bytes:
            reply = await self.link.nc.request(
                self.link.subject("alerts", "change"), json.dumps(request).encode(), timeout=REQUEST_TIMEOUT_S
            )
            return reply.data

        try:
            answer: dict[str, str] = json.loads(self.link.run(ask(), REQUEST_TIMEOUT_S + 1))
        except Exception as exc:
            raise AlertsUnavailable(f"no alert worker answered for site {request['site']!r}: {exc}") from exc
        if answer.get("error") == "failed":
            raise AlertsUnavailable(answer.get("detail", "the worker failed"))
        return answer


class RemoteAlerts:
    """:class:`server.alerts_api.AlertsApi` of an API replica on the JetStream bus."""

    def __init__(self, link: NatsLink, store: AlertStore) -> None:
        self.store = store
        self.engine = RemoteEngine(link, store)
        self._link = link

    def start(self) -> None:
        self._link.run(self.engine.subscribe(), 30)

    def stop(self) -> None:
        """Nothing to do: the subscription ends with the link's connection."""
