"""Broker credentials and ACL for one hall (``lobbywatch deploy mqtt-credentials``).

Users (one hall broker serves one site):

==================  ===========================================================
``dev.{device}``    publish under ``lobbywatch/v1/{site}/device/{device}/`` (status,
                    heartbeat, event, counter/#); read its own downlink, its own receipt
                    (``lobbywatch/v1/{site}/receipt/{device}``), the hall alerts and the
                    wait board (``lobbywatch/v1/{site}/downlink/wait``); a counter
                    terminal also the state staff set for its counter
                    (``lobbywatch/v1/{site}/downlink/counter/{counter}``)
``cam.{camera}``    publish under ``lobbywatch/v1/{site}/camera/{camera}/``; read hall alerts
``tix.{system}``    the queue-ticket system (``gateway.tickets.system``): publish its ticket
                    events (``lobbywatch/v1/{site}/ticket/{system}/event``); read its receipt
                    and the states staff set for the counters
                    (``lobbywatch/v1/{site}/downlink/counter/+``)
``gateway``         read the whole site; publish downlinks (device downlinks, hall alerts,
                    which it fetches from the central server) and delivery receipts
                    (``lobbywatch/v1/{site}/receipt/+``)
``display``         the in-hall wall page (over MQTT-over-WebSocket): read only the zone
                    states, camera and device status, counter states, the open hall alerts
                    (``.../downlink/alert/+``, retained by the gateway) and the wait board;
                    publish nothing
==================  ===========================================================

The central server has no account: it never connects to a hall broker (docs/gateway.md,
"Downlink").

Passwords are random (``secrets``) and written one file per user (mode 0600) for the device
to use with ``--password-file``; the broker's password file holds Mosquitto's PBKDF2-SHA512
hashes (``$7$`` format, made with :mod:`hashlib`, so ``mosquitto_passwd`` is not needed) and
is readable by the broker's group. A client's id is its user name (docs/device-agent.md).
An optional WebSocket listener serves the in-hall wall page (docs/pages.md, "In-hall mode").
"""

from __future__ import annotations

import base64
import grp
import hashlib
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from lobbywatch.config.site import SiteConfig
from lobbywatch.protocol.topics import (
    ROOT,
    alert_downlink_topic,
    counter_downlink_topic,
    device_downlink_topic,
    device_event_topic,
    device_heartbeat_topic,
    device_prefix,
    device_status_topic,
    open_alert_topic,
    receipt_topic,
    site_root,
    ticket_event_topic,
    wait_board_topic,
)

#: Mosquitto 2's defaults for ``$7$`` hashes.
PBKDF2_ITERATIONS = 101
SALT_BYTES = 12


def hash_password(password: str, *, salt: bytes | None = None, iterations: int = PBKDF2_ITERATIONS) -> str:
    """A Mosquitto 2 password-file hash: ``$7$iterations$salt_b64$hash_b64`` (PBKDF2-SHA512)."""
    salt = salt if salt is not None else os.urandom(SALT_BYTES)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations)
    return f"$7${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def verify_password(password: str, hashed: str) -> bool:
    """Check ``password`` against a ``$7$`` hash (for tests and for troubleshooting)."""
    parts = hashed.split("$")
    if len(parts) != 5 or parts[1] != "7":
        return False
    salt = base64.b64decode(parts[3])
    return secrets.compare_digest(hash_password(password, salt=salt, iterations=int(parts[2])), hashed)


@dataclass(frozen=True)
class BrokerUser:
    """One broker account and the topics it may read and write."""

    name: str
    read: tuple[str, ...]
    write: tuple[str, ...]


def device_user(device: str) -> str:
    return f"dev.{device}"


def camera_user(camera: str) -> str:
    return f"cam.{camera}"


def ticket_user(system: str) -> str:
    return f"tix.{system}"


GATEWAY_USER = "gateway"
DISPLAY_USER = "display"
BROKER_GROUP = "mosquitto"


def hall_users(cfg: SiteConfig) -> list[BrokerUser]:
    """Every account of the hall, with least privilege."""
    site = cfg.site
    alerts = alert_downlink_topic(site)
    downlinks = (f"{site_root(site)}/device/+/downlink", f"{site_root(site)}/downlink/#")
    receipts = f"{site_root(site)}/receipt/+"
    users: list[BrokerUser] = []
    for dev in cfg.devices:
        d = dev.id
        own_counter = () if dev.counter is None else (counter_downlink_topic(site, dev.counter),)
        users.append(
            BrokerUser(
                device_user(d),
                read=(
                    device_downlink_topic(site, d),
                    alerts,
                    wait_board_topic(site),
                    receipt_topic(site, d),
                    *own_counter,
                ),
                write=(
                    device_status_topic(site, d),
                    device_heartbeat_topic(site, d),
                    device_event_topic(site, d),
                    f"{device_prefix(site, d)}/counter/#",
                ),
            )
        )
    for cam in cfg.cameras:
        users.append(
            BrokerUser(camera_user(cam.id), read=(alerts,), write=(f"{site_root(site)}/camera/{cam.id}/#",))
        )
    system = cfg.gateway.tickets.system
    users.append(
        BrokerUser(
            ticket_user(system),
            read=(receipt_topic(site, system), counter_downlink_topic(site, "+")),
            write=(ticket_event_topic(site, system),),
        )
    )
    users.append(BrokerUser(GATEWAY_USER, read=(f"{site_root(site)}/#",), write=(*downlinks, receipts)))
    users.append(BrokerUser(DISPLAY_USER, read=display_topics(site), write=()))
    return users


def display_topics(site: str) -> tuple[str, ...]:
    """What a wall needs and nothing more: the hall's retained states, the open hall alerts
    (the gateway's retained copies, one topic per alert), the wait board."""
    root = site_root(site)
    return (
        f"{root}/camera/+/zone/+",
        f"{root}/camera/+/status",
        f"{root}/device/+/status",
        f"{root}/device/+/counter/+",
        open_alert_topic(site, "+"),
        wait_board_topic(site),
    )


def render_acl(users: list[BrokerUser]) -> str:
    """A Mosquitto ``acl_file``: nothing for anonymous clients, each user only its topics."""
    lines = [
        "# Generated by `lobbywatch deploy mqtt-credentials`; regenerate rather than edit.",
        f"# Protocol tree: {ROOT}/<site>/... Anonymous clients get no topics at all.",
        "",
    ]
    for user in users:
        lines.append(f"user {user.name}")
        both = set(user.read) & set(user.write)
        for topic in user.read:
            lines.append(f"topic {'readwrite' if topic in both else 'read'} {topic}")
        for topic in user.write:
            if topic not in both:
                lines.append(f"topic write {topic}")
        lines.append("")
    return "\n".join(lines)


def readable_by_broker(path: Path, group: str = BROKER_GROUP) -> None:
    """Mode 0640, group ``mosquitto`` where that group exists and we may set it.

    Mosquitto started as root drops to the ``mosquitto`` user before it reads the password
    file and the ACL: a root-only file stops it (exit 13).
    """
    os.chmod(path, 0o640)
    try:
        gid = grp.getgrnam(group).gr_gid
    except KeyError:
        return  # no such group here: the operator runs the broker as the owner
    if os.geteuid() == 0:
        os.chown(path, -1, gid)


@dataclass(frozen=True)
class GeneratedCredentials:
    password_file: Path
    acl_file: Path
    secrets_dir: Path
    passwords: dict[str, str]
    config_file: Path


def write_credentials(
    cfg: SiteConfig,
    out: Path,
    *,
    keep_existing: bool = True,
    tls: TlsFiles | None = None,
    websocket_port: int | None = None,
) -> GeneratedCredentials:
    """Write ``passwd``, ``acl``, ``mosquitto.conf`` and ``secrets/<user>.password`` under ``out``.

    With ``keep_existing`` a user's password already in ``secrets/`` is kept, so re-running
    after adding a device does not lock the others out. ``websocket_port`` adds the in-hall
    display's WebSocket listener.
    """
    out.mkdir(parents=True, exist_ok=True)
    secrets_dir = out / "secrets"
    secrets_dir.mkdir(exist_ok=True)
    os.chmod(secrets_dir, 0o700)
    users = hall_users(cfg)
    passwords: dict[str, str] = {}
    hashes: list[str] = []
    for user in users:
        secret_path = secrets_dir / f"{user.name}.password"
        if keep_existing and secret_path.exists():
            password = secret_path.read_text().strip()
        else:
            password = secrets.token_urlsafe(24)
            secret_path.write_text(password + "\n")
            os.chmod(secret_path, 0o600)
        passwords[user.name] = password
        hashes.append(f"{user.name}:{hash_password(password)}")
    password_file = out / "passwd"
    password_file.write_text("\n".join(hashes) + "\n")
    acl_file = out / "acl"
    acl_file.write_text(render_acl(users))
    for path in (password_file, acl_file):
        readable_by_broker(path)
    config_file = out / "mosquitto.conf"
    config_file.write_text(
        render_broker_config(
            password_file.resolve(),
            acl_file.resolve(),
            port=cfg.broker.port,
            tls=tls,
            websocket_port=websocket_port,
        )
    )
    return GeneratedCredentials(password_file, acl_file, secrets_dir, passwords, config_file)


@dataclass(frozen=True)
class TlsFiles:
    """Certificate files for the TLS listener (PEM)."""

    cafile: Path
    certfile: Path
    keyfile: Path


def auth_config(password_file: Path, acl_file: Path) -> list[str]:
    """The broker lines that admit only the hall's users, each to its own topics.

    ``use_username_as_clientid``: a client's id is its user name, so no credentials can take
    another client's id (and with it kick the gateway off or wipe its persistent session).
    """
    return [
        "allow_anonymous false",
        f"password_file {password_file}",
        f"acl_file {acl_file}",
        "use_username_as_clientid true",
    ]


def render_broker_config(
    password_file: Path,
    acl_file: Path,
    *,
    port: int = 1883,
    bind: str = "127.0.0.1",
    tls: TlsFiles | None = None,
    tls_port: int = 8883,
    persistence_dir: Path | None = Path("/var/lib/mosquitto"),
    websocket_port: int | None = None,
) -> str:
    """A hall ``mosquitto.conf``: no anonymous clients, the generated passwords and ACL.

    The plain listener binds to ``bind`` (loopback by default: the gateway on the same box);
    with ``tls`` a TLS listener on ``tls_port`` serves devices and cameras on the hall LAN;
    with ``websocket_port`` a WebSocket listener serves the in-hall wall page.
    """
    lines = [
        "# LobbyWatch hall broker. Generated by `lobbywatch deploy mqtt-credentials`.",
        "per_listener_settings false",
        *auth_config(password_file, acl_file),
        "max_queued_messages 100000",
        "max_inflight_messages 100",
    ]
    if persistence_dir is not None:
        lines += ["persistence true", f"persistence_location {persistence_dir}/"]
    lines += ["", f"listener {port} {bind}"]
    if tls is not None:
        lines += [
            "",
            f"listener {tls_port}",
            f"cafile {tls.cafile}",
            f"certfile {tls.certfile}",
            f"keyfile {tls.keyfile}",
            "tls_version tlsv1.2",
        ]
    if websocket_port is not None:
        lines += ["", *websocket_listener(websocket_port)]
    return "\n".join(lines) + "\n"


def websocket_listener(port: int) -> list[str]:
    """The in-hall display's MQTT-over-WebSocket listener (plain ``ws://``, hall LAN only).

    Mosquitto 2.0's WebSocket listener (libwebsockets) binds every interface whatever address
    is given, and starts only next to a plain MQTT listener; the ``display`` account it is
    meant for may only read (docs/pages.md, "In-hall mode").
    """
    return [f"listener {port}", "protocol websockets"]


__all__ = [
    "DISPLAY_USER",
    "GATEWAY_USER",
    "BrokerUser",
    "GeneratedCredentials",
    "TlsFiles",
    "auth_config",
    "camera_user",
    "device_user",
    "display_topics",
    "hall_users",
    "hash_password",
    "readable_by_broker",
    "render_acl",
    "render_broker_config",
    "verify_password",
    "websocket_listener",
    "write_credentials",
]
