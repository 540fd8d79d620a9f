"""The hall broker of the in-hall wall tests: a real Mosquitto with the generated accounts,
ACL and WebSocket listener, and what the hall's cameras, devices and gateway leave on it
(tests/server/web/test_hall_display.py, tests/gateway/test_hall_wall.py)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from edge.devices.credentials import (
    DISPLAY_USER,
    GATEWAY_USER,
    GeneratedCredentials,
    auth_config,
    camera_user,
    device_user,
    websocket_listener,
    write_credentials,
)
from gateway.downlink import open_alert_copy
from lobbywatch.clock import FixedClock
from lobbywatch.protocol.codec import encode
from lobbywatch.protocol.enums import AlertState, CounterStatus, DeviceKind, Presence, Severity, ZoneKind
from lobbywatch.protocol.messages import (
    AlertNotice,
    CounterState,
    DeviceInfo,
    DeviceStatus,
    Envelope,
    LocalizedText,
    ZoneState,
)
from lobbywatch.protocol.sequence import Stamper
from lobbywatch.protocol.tickets import BusinessWaitEntry, WaitBoard
from lobbywatch.protocol.topics import topic_for
from lobbywatch.services import Mosquitto, free_port
from tests.edge.devices.helpers_devices import hall


@dataclass
class HallBroker:
    """The hall's broker with the generated accounts; publishes as the hall's own sources."""

    broker: Mosquitto
    ws_url: str
    creds: GeneratedCredentials
    site: str
    clock: FixedClock
    stampers: dict[str, Stamper] = field(default_factory=dict)

    def user_for(self, message: Envelope) -> str:
        if isinstance(message, ZoneState):
            return camera_user(message.source)
        if isinstance(message, DeviceStatus | CounterState):
            return device_user(message.source)
        return GATEWAY_USER  # the downlink: hall alerts and the wait board

    def publish(self, *messages: Envelope) -> None:
        """Publish each message as its source, on its topic, retained where the protocol says;
        a hall alert also as the gateway's retained copy (gateway/downlink.py)."""
        for m in messages:
            user = self.user_for(m)
            client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=user)
            client.username_pw_set(user, self.creds.passwords[user])
            client.connect(self.broker.host, self.broker.port)
            client.loop_start()
            publications = [(topic_for(m), encode(m), m.RETAINED)]
            copy = open_alert_copy(m)
            if copy is not None:
                publications.append((*copy, True))
            try:
                for topic, payload, retain in publications:
                    info = client.publish(topic, payload, qos=1, retain=retain)
                    info.wait_for_publish(10)
                    assert info.is_published()
            finally:
                client.disconnect()
                client.loop_stop()

    def make(self, cls: type[Envelope], source: str, **fields: Any) -> Envelope:
        st = self.stampers.setdefault(source, Stamper(self.site, source, clock=self.clock))
        return st.make(cls, **fields)

    def page_url(self, base: str, token: str | None = None) -> str:
        """The wall served at ``base`` reading this broker (with ``token``: the server too)."""
        password = self.creds.passwords[DISPLAY_USER]
        query = f"lang=en&hall={self.ws_url}" + (f"&token={token}" if token else "")
        return f"{base}/wall/{self.site}?{query}#hall_password={password}"


def hall_floor(hb: HallBroker, *, queue: int) -> list[Envelope]:
    """What the cameras, kiosks, a counter terminal and the gateway leave on the hall broker."""
    zones = [
        ("cam-counters", "queue-main", ZoneKind.QUEUE, queue, 60.0 * queue + 60, 120.0 * queue),
        ("cam-counters", "waiting", ZoneKind.WAITING, 9, None, 240.0),
        ("cam-entrance", "entrance", ZoneKind.ENTRANCE, 4, None, None),
    ]
    out: list[Envelope] = [
        hb.make(
            ZoneState,
            cam,
            zone=zone,
            kind=kind,
            occupancy=float(n),
            count=n,
            queue_length=n if kind == ZoneKind.QUEUE else None,
            expected_wait_s=exp,
            longest_wait_s=longest,
            entered_total=40,
            exited_total=40 - n,
        )
        for cam, zone, kind, n, exp, longest in zones
    ]
    kiosks = [
        ("kiosk-topup-1", DeviceKind.TOP_UP_KIOSK, []),
        ("kiosk-bill-1", DeviceKind.BILL_PAYMENT_KIOSK, ["PRN_PAPER_OUT"]),
    ]
    for dev, kind, faults in kiosks:
        info = DeviceInfo(kind=kind, vendor="huaxin-maint", model="HX")
        out.append(hb.make(DeviceStatus, dev, state=Presence.ONLINE, faults=faults, info=info))
    out.append(hb.make(DeviceStatus, "kiosk-sim-1", state=Presence.OFFLINE, will=True))
    out.append(hb.make(CounterState, "term-c1", counter="c1", state=CounterStatus.SERVING))
    entry = BusinessWaitEntry.model_validate(
        {
            "business": "broadband",
            "name_en": "Broadband",
            "name_zh-CN": "宽带",
            "ahead": 5,
            "expected_wait_s": 900,
        }
    )
    out.append(hb.make(WaitBoard, "server", waits=[entry]))
    return out


def hall_alert(
    hb: HallBroker,
    alert_id: str = "alert-hall-0001",
    device: str = "kiosk-bill-1",
    state: AlertState = AlertState.FIRING,
) -> AlertNotice:
    """A hall alert as the server sends it down (the gateway publishes it and its retained copy)."""
    text = LocalizedText.model_validate
    notice = hb.make(
        AlertNotice,
        "server",
        alert_id=alert_id,
        kind="device_fault",
        severity=Severity.WARNING,
        state=state,
        title=text({"en": f"Kiosk fault: {device}", "zh-CN": f"设备故障：{device}"}),
        body=text({"en": "Printer out of paper.", "zh-CN": "打印机缺纸。"}),
        device=device,
    )
    assert isinstance(notice, AlertNotice)
    return notice


@contextmanager
def open_hall_broker(root: Path, site: str, clock: FixedClock) -> Iterator[HallBroker]:
    """The hall's broker for ``site`` under ``root``, with its WebSocket listener."""
    ws_port = free_port()
    creds = write_credentials(hall(site), root / "creds", websocket_port=ws_port)
    extra = [*auth_config(creds.password_file, creds.acl_file), *websocket_listener(ws_port)]
    with Mosquitto(root / "broker", extra_config=extra) as broker:
        yield HallBroker(broker, f"ws://127.0.0.1:{ws_port}", creds, site, clock)
