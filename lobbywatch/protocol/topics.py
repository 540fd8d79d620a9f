"""The MQTT topic tree of protocol v1: one function builds a message's topic, one parses it.

Layout (``{site}`` etc. are identifiers; ``ROOT`` is ``lobbywatch/v1``)::

    ROOT/{site}/camera/{camera}/zone/{zone}       zone_state      retained
    ROOT/{site}/camera/{camera}/status            camera_status   retained, last-will
    ROOT/{site}/camera/{camera}/wait              wait_record
    ROOT/{site}/camera/{camera}/visit             visit
    ROOT/{site}/device/{device}/status            device_status   retained, last-will
    ROOT/{site}/device/{device}/heartbeat         device_heartbeat
    ROOT/{site}/device/{device}/event             device_event
    ROOT/{site}/device/{device}/counter/{counter} counter_state   retained
    ROOT/{site}/device/{device}/downlink          device_command  (server -> device)
    ROOT/{site}/downlink/alert                    alert           (server -> hall)
    ROOT/{site}/downlink/alert/{alert_id}         alert           retained while open (gateway -> hall)
    ROOT/{site}/receipt/{source}                  receipt         retained (gateway -> source)
    ROOT/{site}/ticket/{system}/event             ticket_event    (ticket system -> hall)
    ROOT/{site}/downlink/wait                     wait_board      retained (server -> hall)
    ROOT/{site}/downlink/counter/{counter}        counter_state_set retained (server -> terminal)

Everything a device publishes lies under ``ROOT/{site}/device/{device}/``, so a broker ACL
can confine each device to its own subtree.

>>> zone_state_topic("hall-001", "cam-1", "queue-a")
'lobbywatch/v1/hall-001/camera/cam-1/zone/queue-a'
"""

from __future__ import annotations

from dataclasses import dataclass

from lobbywatch.protocol.messages import (
    AlertNotice,
    CameraStatus,
    CounterState,
    CounterStateSet,
    DeviceCommand,
    DeviceEvent,
    DeviceHeartbeat,
    DeviceStatus,
    Envelope,
    Receipt,
    VisitRecord,
    WaitRecord,
    ZoneState,
)
from lobbywatch.protocol.tickets import TicketEvent, WaitBoard

ROOT = "lobbywatch/v1"


def site_root(site: str) -> str:
    return f"{ROOT}/{site}"


def zone_state_topic(site: str, camera: str, zone: str) -> str:
    return f"{ROOT}/{site}/camera/{camera}/zone/{zone}"


def camera_status_topic(site: str, camera: str) -> str:
    return f"{ROOT}/{site}/camera/{camera}/status"


def wait_topic(site: str, camera: str) -> str:
    return f"{ROOT}/{site}/camera/{camera}/wait"


def visit_topic(site: str, camera: str) -> str:
    return f"{ROOT}/{site}/camera/{camera}/visit"


def device_prefix(site: str, device: str) -> str:
    return f"{ROOT}/{site}/device/{device}"


def device_status_topic(site: str, device: str) -> str:
    return f"{device_prefix(site, device)}/status"


def device_heartbeat_topic(site: str, device: str) -> str:
    return f"{device_prefix(site, device)}/heartbeat"


def device_event_topic(site: str, device: str) -> str:
    return f"{device_prefix(site, device)}/event"


def counter_state_topic(site: str, device: str, counter: str) -> str:
    return f"{device_prefix(site, device)}/counter/{counter}"


def device_downlink_topic(site: str, device: str) -> str:
    return f"{device_prefix(site, device)}/downlink"


def alert_downlink_topic(site: str) -> str:
    return f"{ROOT}/{site}/downlink/alert"


def counter_downlink_topic(site: str, counter: str) -> str:
    """Where a counter's terminal and the ticket system read the state staff set for it."""
    return f"{ROOT}/{site}/downlink/counter/{counter}"


def open_alert_topic(site: str, alert_id: str) -> str:
    """Where the gateway keeps a copy of an open hall alert, retained, so a display that
    subscribes later still sees it (cleared with an empty retained message once resolved)."""
    return f"{alert_downlink_topic(site)}/{alert_id}"


def receipt_topic(site: str, source: str) -> str:
    """Where the gateway tells ``source`` (a device or a camera) what it has committed."""
    return f"{ROOT}/{site}/receipt/{source}"


def wait_board_topic(site: str) -> str:
    """Where the hall's displays read the wait per business type."""
    return f"{ROOT}/{site}/downlink/wait"


def ticket_event_topic(site: str, system: str) -> str:
    """Where the hall's ticket system ``system`` publishes its ticket events."""
    return f"{ROOT}/{site}/ticket/{system}/event"


def uplink_filter(site: str) -> str:
    """Subscription filter for everything a hall publishes (and its downlinks; filter those)."""
    return f"{ROOT}/{site}/#"


def topic_for(message: Envelope) -> str:
    """The one topic a message is published on."""
    site, source = message.site, message.source
    match message:
        case ZoneState():
            return zone_state_topic(site, source, message.zone)
        case CameraStatus():
            return camera_status_topic(site, source)
        case WaitRecord():
            return wait_topic(site, source)
        case VisitRecord():
            return visit_topic(site, source)
        case DeviceStatus():
            return device_status_topic(site, source)
        case DeviceHeartbeat():
            return device_heartbeat_topic(site, source)
        case DeviceEvent():
            return device_event_topic(site, source)
        case CounterState():
            return counter_state_topic(site, source, message.counter)
        case DeviceCommand():
            return device_downlink_topic(site, message.device)
        case AlertNotice():
            return alert_downlink_topic(site)
        case CounterStateSet():
            return counter_downlink_topic(site, message.counter)
        case Receipt():
            return receipt_topic(site, message.stream_source)
        case TicketEvent():
            return ticket_event_topic(site, source)
        case WaitBoard():
            return wait_board_topic(site)
    raise TypeError(f"no topic for message type {type(message).__name__}")


@dataclass(frozen=True, slots=True)
class TopicInfo:
    """What a topic says: its site, the branch (camera/device/ticket/downlink/receipt) and the ids in it."""

    site: str
    branch: str
    owner: str | None
    leaf: str
    key: str | None = None


def parse_topic(topic: str) -> TopicInfo | None:
    """Parse a v1 topic; ``None`` for a topic outside the v1 tree or of an unknown shape.

    >>> parse_topic("lobbywatch/v1/h1/device/k1/event")
    TopicInfo(site='h1', branch='device', owner='k1', leaf='event', key=None)
    """
    prefix = ROOT + "/"
    if not topic.startswith(prefix):
        return None
    parts = topic[len(prefix) :].split("/")
    if len(parts) == 3 and parts[1] == "downlink" and parts[2] in ("alert", "wait"):
        return TopicInfo(parts[0], "downlink", None, parts[2])
    if len(parts) == 4 and parts[1] == "downlink" and parts[2] == "alert" and parts[3]:
        return TopicInfo(parts[0], "downlink", None, "alert", parts[3])
    if len(parts) == 3 and parts[1] == "receipt" and parts[2]:
        return TopicInfo(parts[0], "receipt", parts[2], "receipt")
    if len(parts) == 4 and parts[1] in ("camera", "device"):
        if parts[3] in ("status", "wait", "visit", "heartbeat", "event", "downlink"):
            return TopicInfo(parts[0], parts[1], parts[2], parts[3])
        return None
    if len(parts) == 4 and parts[1] == "downlink" and parts[2] == "counter" and parts[3]:
        return TopicInfo(parts[0], "downlink", None, "counter", parts[3])
    if len(parts) == 4 and parts[1] == "ticket" and parts[3] == "event":
        return TopicInfo(parts[0], "ticket", parts[2], "event")
    if len(parts) == 5:
        if parts[1] == "camera" and parts[3] == "zone":
            return TopicInfo(parts[0], "camera", parts[2], "zone", parts[4])
        if parts[1] == "device" and parts[3] == "counter":
            return TopicInfo(parts[0], "device", parts[2], "counter", parts[4])
    return None
